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
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).parent))

from image_data import bench_set, build_set, load_pools, skimage_scenes, split  # noqa: E402
from machine import describe, line  # noqa: E402

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


def proposal_method(size: int, boxes: tuple, top: int, crops, reg: np.ndarray) -> Callable:  # type: ignore[no-untyped-def]
    """Pooled regions propose where a work may sit: the `top` boxes most like any registered
    vector are described again from their crops (a pass of 160 px each)."""
    ex = RegionalSscd(size)

    def run(img):  # type: ignore[no-untyped-def]
        kept = [b for b, _ in informative_views(img, boxes)]
        pooled = ex.extract([img], (WHOLE, *kept))[0]
        best = (pooled[1:] @ reg.T).max(axis=1)
        order = np.argsort(-best)[:top]
        views = [v for _, v in informative_views(img, [kept[i] for i in order])]
        again = crops.extract_arrays([crops.prepare(v, 160) for v in views])
        return np.vstack([pooled, again])
    return run


class LocalFeatures:
    """ORB keypoints of every work in one FAISS binary index; a query's descriptors vote for
    works by nearest neighbour (Lowe's ratio test against the second nearest anywhere in the
    registry), and the three works with most votes are verified by RANSAC (rotation, scale
    and shift): the score is the inlier count."""

    def __init__(self, images: list, side: int = 512, keypoints: int = 1000) -> None:
        import cv2
        import faiss

        self.cv2, self.side = cv2, side
        self.orb = cv2.ORB_create(nfeatures=keypoints)
        pts, descs, owner = [], [], []
        for i, img in enumerate(tqdm(images, desc="work keypoints", file=sys.stderr)):
            p, d = self.features(img)
            pts.append(p)
            descs.append(d)
            owner += [i] * len(d)
        self.points, self.owner, self.n = np.vstack(pts), np.array(owner), len(images)
        self.index = faiss.IndexBinaryFlat(256)
        self.index.add(np.vstack(descs))

    def features(self, img) -> tuple[np.ndarray, np.ndarray]:  # type: ignore[no-untyped-def]
        g = img.convert("L")
        scale = min(1.0, self.side / max(g.size))
        if scale < 1:
            g = g.resize((round(g.width * scale), round(g.height * scale)))
        kp, d = self.orb.detectAndCompute(np.asarray(g), None)
        if d is None:
            return np.zeros((0, 2), np.float32), np.zeros((0, 32), np.uint8)
        return np.array([k.pt for k in kp], np.float32) / scale, d

    def __call__(self, img) -> np.ndarray:  # type: ignore[no-untyped-def]
        out = np.zeros(self.n, np.float32)
        pts, d = self.features(img)
        if len(d) < 3:
            return out
        dist, nn = self.index.search(d, 2)
        good = dist[:, 0] < 0.8 * dist[:, 1]
        votes = np.bincount(self.owner[nn[good, 0]], minlength=self.n)
        for w in np.argsort(-votes)[:3]:
            if votes[w] < 4:
                break
            sel = good & (self.owner[nn[:, 0]] == w)
            _, inliers = self.cv2.estimateAffinePartial2D(
                pts[sel], self.points[nn[sel, 0]], method=self.cv2.RANSAC,
                ransacReprojThreshold=8.0)
            out[w] = 0 if inliers is None else int(inliers.sum())
        return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--split", choices=["cal", "bench"], default="cal")
    ap.add_argument("--per-edit", type=int, default=60, help="copies per edit")
    ap.add_argument("--distractors", type=int, default=400)
    ap.add_argument("--canvas", type=int, default=0, help="also index each work pooled "
                    "from a grey canvas, at this input size (0: no)")
    ap.add_argument("--methods", default="windows,pooled224,pooled320,pooled384,"
                    "pooled320dense,propose2@224,propose2@320")
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
    if args.canvas:
        # each work also as a region pooled from a grey canvas it sits in the middle of
        rs = RegionalSscd(args.canvas)
        extra = []
        for k in tqdm(ids, desc="canvas vectors", file=sys.stderr):
            img = load_image(works[k]).image
            canvas = Image.new("RGB", (img.width * 2, img.height * 2), (128, 128, 128))
            canvas.paste(img, (img.width // 2, img.height // 2))
            extra.append(rs.extract([canvas], [(0.25, 0.25, 0.75, 0.75)])[0])
        reg = np.vstack([reg, *extra])
        owner_a = np.concatenate([owner_a, np.arange(len(ids))])
    rng = np.random.default_rng(0)
    queries = []
    for edit in sorted({q.edit for q in labelled.queries if q.source}):
        pos = [q for q in labelled.queries if q.edit == edit and q.source]
        queries += [pos[i] for i in sorted(rng.permutation(len(pos))[:args.per_edit])]
    neg = [q for q in labelled.queries if not q.source]
    queries += [neg[i] for i in sorted(rng.permutation(len(neg))[:args.distractors])]
    images = [load_image(q.path).image for q in queries]
    def best_per_work(make):  # type: ignore[no-untyped-def]
        def scored():  # type: ignore[no-untyped-def]
            run = make()

            def per_work(img):  # type: ignore[no-untyped-def]
                out = np.zeros(len(ids), np.float32)
                np.maximum.at(out, owner_a, (run(img) @ reg.T).max(axis=0))
                return out
            return per_work
        return scored

    makers = {"windows": best_per_work(lambda: windows_method(feat)),
              "orb": lambda: LocalFeatures([load_image(works[k]).image for k in ids])}
    for size in (224, 256, 288, 320, 384, 448, 512):
        makers[f"pooled{size}"] = best_per_work(lambda s=size: pooled_method(s, ACCURATE_WINDOWS))
        makers[f"pooled{size}dense"] = best_per_work(lambda s=size: pooled_method(s, DENSE))
        for top in (1, 2, 3, 4):
            makers[f"propose{top}@{size}"] = best_per_work(
                lambda s=size, t=top: proposal_method(s, ACCURATE_WINDOWS, t, feat.descriptor,
                                                      reg))
    canvas = f"; works also pooled from a grey canvas at {args.canvas} px" if args.canvas else ""
    lines = [f"Region methods on the {args.split} split, "
             f"{datetime.now(UTC).isoformat(timespec='seconds')} ({len(queries)} queries: "
             f"{args.per_edit} copies per edit, {args.distractors} distractors; "
             f"{len(ids)} works{canvas}; {line(describe())})", ""]
    edits = sorted({q.edit for q in queries if q.source})
    lines += ["| method | s/query | " + " | ".join(edits) + " | all | AUC |",
              "|---|---|" + "---|" * (len(edits) + 2)]
    is_pos = np.array([bool(q.source) for q in queries])
    truth = [ids.index(q.source) if q.source else -1 for q in queries]
    done: dict[str, tuple[np.ndarray, float]] = {}
    for name in args.methods.split(","):
        if "|" in name:  # either method, each at a 0.5% false-positive rate
            (a, ta), (b, tb) = (done[m] for m in name.split("|"))
            found = np.array([(a[i, t] > _fpr_threshold(a, is_pos, 0.005))
                              | (b[i, t] > _fpr_threshold(b, is_pos, 0.005))
                              if t >= 0 else False for i, t in enumerate(truth)])
            flagged = ((a[~is_pos].max(1) > _fpr_threshold(a, is_pos, 0.005))
                       | (b[~is_pos].max(1) > _fpr_threshold(b, is_pos, 0.005)))
            cells = [f"{found[[q.edit == e and bool(q.source) for q in queries]].mean():.2f}"
                     for e in edits]
            row = (f"| {name.replace('|', ' or ')} (FPR {flagged.mean():.3f}) | {ta + tb:.3f} | "
                   + " | ".join(cells) + f" | {found[is_pos].mean():.3f} | - |")
            print(row, flush=True)
            lines.append(row)
            continue
        run = makers[name]()
        run(images[0])  # warm
        scores = np.zeros((len(queries), len(ids)), np.float32)
        t0 = time.perf_counter()
        for qi, img in enumerate(tqdm(images, desc=name, file=sys.stderr)):
            if not is_blank(img):
                scores[qi] = run(img)
        took = (time.perf_counter() - t0) / len(images)
        done[name] = (scores, took)
        true = np.array([scores[i, t] if t >= 0 else np.nan for i, t in enumerate(truth)])
        negs = scores[~is_pos].max(axis=1)
        t = _fpr_threshold(scores, is_pos, 0.01)
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
    # runs of other methods add to the record rather than replace it
    with (RESULTS / f"image_region_methods_{args.split}.md").open("a") as fh:
        fh.write("\n".join(lines) + "\n\n")


def _fpr_threshold(scores: np.ndarray, is_pos: np.ndarray, rate: float) -> float:
    """The score distractor queries' best works exceed at `rate`."""
    return float(np.quantile(scores[~is_pos].max(axis=1), 1 - rate))


if __name__ == "__main__":
    main()
