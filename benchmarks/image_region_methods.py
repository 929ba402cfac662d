"""How to describe the regions of a query image: a network pass per window (today's accurate
profile), or regions pooled from one pass (models/sscd_regions.py), side by side.

Every method is scored the same way: a query's score for a work is the best cosine between
any of the query's descriptors (whole image and regions) and any of the work's indexed
vectors (the accurate profile's: whole work, mirror, +-12 degree rotations, five windows).
A copy is found when its true work scores above the 99th percentile of the distractor
queries' best scores (a 1% false-positive rate). Reported per edit, with the seconds per
query the method's descriptors took on this machine and the model passes they amount to.

Run on the CALIBRATION split to choose (default); `--split bench` reports the choice on the
benchmark's images.

    python benchmarks/image_region_methods.py --data .cache/data/root [--split cal]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).parent))

from image_data import bench_set, build_set, load_pools, skimage_scenes, split  # noqa: E402

from models.imaging import is_blank, load_image  # noqa: E402
from models.sscd_regions import RegionalSscd  # noqa: E402
from screening.image.features import features_for  # noqa: E402
from screening.image.profiles import ACCURATE_WINDOWS, get_profile  # noqa: E402
from screening.image.views import WHOLE, grid, informative_views  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
#: A denser box set the pooled methods can afford (pooling is nearly free): every grid of
#: side 0.3-0.8.
DENSE = tuple(ACCURATE_WINDOWS) + tuple(grid(0.6, 3) + grid(0.7, 3) + grid(0.8, 2)
                                        + grid(0.35, 5) + grid(0.55, 4))


def windows_method(profile_feature) -> Callable:  # type: ignore[no-untyped-def]
    ex = profile_feature.descriptor

    def run(img):  # type: ignore[no-untyped-def]
        whole = ex.extract_arrays([ex.prepare(img, 224)])
        views = [v for _, v in informative_views(img, ACCURATE_WINDOWS)]
        regions = ex.extract_arrays([ex.prepare(v, 160) for v in views])
        return np.vstack([whole, regions])
    return run


def pooled_method(size: int, boxes: tuple) -> Callable:  # type: ignore[no-untyped-def]
    ex = RegionalSscd(size)

    def run(img):  # type: ignore[no-untyped-def]
        return ex.extract([img], (WHOLE, *boxes))[0]
    return run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--split", choices=["cal", "bench"], default="cal")
    ap.add_argument("--per-edit", type=int, default=60, help="copies per edit")
    ap.add_argument("--distractors", type=int, default=400)
    ap.add_argument("--methods", default="windows,pooled320,pooled384,pooled448,"
                    "pooled384dense")
    args = ap.parse_args()
    if args.split == "cal":
        parts = split(load_pools(args.data))
        labelled = build_set("cal", parts["calib_works"], parts["calib_distractors"],
                             skimage_scenes(), seed=7, out=Path(".cache/bench/calib"))
    else:
        labelled = bench_set(args.data, Path(".cache/bench/image"))
    works = dict(labelled.works)
    ids = list(works)
    feat = next(f for f in features_for(get_profile("accurate")) if f.descriptor is not None)
    vecs, owner = [], []
    for i, k in enumerate(tqdm(ids, desc="work vectors", file=sys.stderr)):
        v = feat.work_vectors(load_image(works[k]).image)
        vecs.append(v)
        owner += [i] * len(v)
    reg, owner_a = np.vstack(vecs), np.array(owner)
    rng = np.random.default_rng(0)
    queries = []
    for edit in sorted({q.edit for q in labelled.queries if q.source}):
        pos = [q for q in labelled.queries if q.edit == edit and q.source]
        queries += [pos[i] for i in sorted(rng.permutation(len(pos))[:args.per_edit])]
    neg = [q for q in labelled.queries if not q.source]
    queries += [neg[i] for i in sorted(rng.permutation(len(neg))[:args.distractors])]
    images = [load_image(q.path).image for q in queries]
    makers = {"windows": lambda: windows_method(feat)}
    for size in (288, 320, 384, 448, 512):
        makers[f"pooled{size}"] = lambda s=size: pooled_method(s, ACCURATE_WINDOWS)
        makers[f"pooled{size}dense"] = lambda s=size: pooled_method(s, DENSE)
    lines = [f"Region methods on the {args.split} split ({len(queries)} queries: "
             f"{args.per_edit} copies per edit, {args.distractors} distractors; "
             f"{len(ids)} works)", ""]
    edits = sorted({q.edit for q in queries if q.source})
    lines += ["| method | s/query | " + " | ".join(edits) + " | all | AUC |",
              "|---|---|" + "---|" * (len(edits) + 2)]
    for name in args.methods.split(","):
        run = makers[name]()
        run(images[0])  # warm
        scores = np.zeros((len(queries), len(ids)), np.float32)
        t0 = time.perf_counter()
        for qi, img in enumerate(tqdm(images, desc=name, file=sys.stderr)):
            if is_blank(img):
                continue
            sims = run(img) @ reg.T  # (views, vectors)
            best = sims.max(axis=0)
            np.maximum.at(scores[qi], owner_a, best)
        took = (time.perf_counter() - t0) / len(images)
        is_pos = np.array([bool(q.source) for q in queries])
        true = np.array([scores[i, ids.index(q.source)] if q.source else np.nan
                         for i, q in enumerate(queries)])
        negs = scores[~is_pos].max(axis=1)
        t = float(np.quantile(negs, 0.99))
        cells = []
        for e in edits:
            m = np.array([q.edit == e and bool(q.source) for q in queries])
            cells.append(f"{np.mean(true[m] > t):.2f}")
        pos_true = true[is_pos]
        auc = float(np.mean(pos_true[:, None] > negs[None, :]))
        row = (f"| {name} | {took:.3f} | " + " | ".join(cells)
               + f" | {np.mean(pos_true > t):.3f} | {auc:.4f} |")
        print(row, flush=True)
        lines.append(row)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"image_region_methods_{args.split}.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
