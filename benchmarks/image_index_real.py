"""Approximate dense indexes on real SSCD descriptors: what HNSW and IVF miss, and how fast.

The image benchmark times the indexes at 10k and 100k works on random vectors, the worst case
for graph and cluster indexes (no structure to exploit). This script measures them on real
descriptors instead: the accurate profile's indexed vectors of the image benchmark's 200
registered works, plus the accurate profile's query views (whole image and informative
windows) of every other clip-art image in openclipart-png that the benchmark does not use
(about 2,100 images; about 40 descriptors each), stored as filler works of 9 vectors each, as
the synthetic registry does. That is about 10,000 works' worth of real vectors: the most this
machine can describe in minutes, not the 100k of the synthetic rows.

Queries: the accurate profile's views of the benchmark's copies whose edit needs windows or
only moderately similar descriptors (crop, jpeg_blur, scene, colour_caption). For each query
image and index: is the copied work among the 20 works returned for some view (the screener
takes 20 per view), and does its best similarity over the views equal the exact one (Flat)?
Then the per-image search time for all views at once, as the screener searches.

    python benchmarks/image_index_real.py --data .cache/data/root [--fresh]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).parent))

from image_data import bench_set, load_pools, split  # noqa: E402
from image_eval import open_workspace  # noqa: E402

from indexes.dense import DenseIndex, SearchParams  # noqa: E402
from models.imaging import load_image  # noqa: E402
from screening.image_screening import K_PER_VIEW  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
EDITS = ("crop", "jpeg_blur", "scene", "colour_caption")
PER_WORK = 9  # vectors per filler work, as in the synthetic registry
#: (share of the filler, factory, efSearch, nprobe) rows; Flat is the exact reference of
#: the rows of its filler share, which come after it. The smaller shares show how search
#: time grows with the registry on real vectors.
CONFIGS = ((0.1, "Flat", None, None), (0.1, "HNSW32", 256, None),
           (0.3, "Flat", None, None), (0.3, "HNSW32", 256, None),
           (1.0, "Flat", None, None), (1.0, "HNSW32", 16, None), (1.0, "HNSW32", 64, None),
           (1.0, "HNSW32", 256, None), (1.0, "IVF1024,Flat", None, 16),
           (1.0, "IVF1024,Flat", None, 128))


def view_vectors(screener, paths: list[Path], desc: str) -> list[np.ndarray]:  # type: ignore[no-untyped-def]
    """Per image, the descriptors the screener searches for it (whole image first)."""
    feat = next(f for f in screener.features if f.descriptor is not None)
    out = []
    for path in tqdm(paths, desc=desc, file=sys.stderr):
        whole, _, windows = screener.view_descriptors(feat, [load_image(path)])
        out.append(np.vstack([whole, windows]).astype(np.float32))
    return out


def cached(path: Path, fresh: bool, make):  # type: ignore[no-untyped-def]
    if path.exists() and not fresh:
        with np.load(path) as z:
            return [z[k] for k in sorted(z.files, key=int)]
    arrays = make()
    np.savez(path, **{str(i): a for i, a in enumerate(arrays)})
    return arrays


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--work", type=Path, default=Path(".cache/bench/bench"))
    ap.add_argument("--fresh", action="store_true", help="re-describe the images")
    args = ap.parse_args()
    labelled = bench_set(args.data, args.work)
    ws = open_workspace(args.work / "data", labelled, ["accurate", "fast", "hash"])
    screener = ws.image_screener("accurate", use_background=False)
    feat = next(f for f in screener.features if f.descriptor is not None)
    registered = screener.indexes[feat.index_name]
    assert isinstance(registered, DenseIndex)
    ids = {w.external_id: w.id for w in ws.registry.list_works(kind="image")}

    # filler: every clip-art image the benchmark does not use
    pools = load_pools(args.data)
    parts = split(pools)
    used = {p for k in ("bench_works", "bench_extra", "bench_distractors", "background")
            for p in parts[k]}
    unused = [p for p in pools.clipart if p not in used]
    filler = cached(args.work / "real-filler-views.npz", args.fresh,
                    lambda: view_vectors(screener, unused, "describing filler images"))
    filler_x = np.vstack(filler)
    copies = [q for q in labelled.queries if q.source and q.edit in EDITS]
    queries = cached(args.work / "real-query-views.npz", args.fresh,
                     lambda: view_vectors(screener, [q.path for q in copies],
                                          "describing queries"))
    truth = [ids[q.source] for q in copies]

    works = sorted(registered.work_ids())
    offset = max(works) + 1
    rows = []
    exact: list[float] = []
    for share, factory, ef, nprobe in CONFIGS:
        n_fill = int(share * len(filler_x)) // PER_WORK
        params = SearchParams(ef or 256, nprobe or 128)
        index = DenseIndex(registered.spec, factory, search=params)
        t0 = time.perf_counter()
        if not index.is_trained:
            index.train(filler_x[:n_fill * PER_WORK])
        index.add_new(works, [registered.work_vectors(w, range(registered.variants_per_work))
                              for w in works])
        index.add_new(list(range(offset, offset + n_fill)),
                      [filler_x[i * PER_WORK:(i + 1) * PER_WORK] for i in range(n_fill)])
        build = time.perf_counter() - t0
        index.search(queries[0], K_PER_VIEW)  # warm-up
        best, found, times = [], [], []
        for q, w in zip(queries, truth, strict=True):
            t = time.perf_counter()
            hits = index.search(q, K_PER_VIEW)
            times.append(time.perf_counter() - t)
            sims = [h.score for row in hits for h in row if h.work_id == w]
            found.append(bool(sims))
            best.append(max(sims) if sims else -1.0)
        if factory == "Flat":
            exact = best
        same = [abs(a - b) < 1e-4 for a, b in zip(best, exact, strict=True) if b > -1]
        rows.append({
            "factory": factory, "ef_search": ef, "nprobe": nprobe,
            "works": len(works) + n_fill, "vectors": index.ntotal, "build_s": round(build, 1),
            "copied_work_found": round(float(np.mean(found)), 4),
            "same_best_similarity": round(float(np.mean(same)), 4),
            "search_ms_per_image_p50": round(1000 * float(np.percentile(times, 50)), 1),
            "search_ms_per_image_p95": round(1000 * float(np.percentile(times, 95)), 1),
        })
        print(rows[-1], file=sys.stderr)
        del index
    by_edit = {e: sum(q.edit == e for q in copies) for e in EDITS}
    report = {"when": datetime.now(UTC).isoformat(timespec="seconds"),
              "registered_works": len(works), "filler_images": len(filler),
              "filler_works": len(filler_x) // PER_WORK, "queries": len(copies),
              "queries_by_edit": by_edit,
              "views_per_query": round(float(np.mean([len(q) for q in queries])), 1),
              "rows": rows}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "image_index_real.json").write_text(json.dumps(report, indent=2) + "\n")
    md = render(report)
    (RESULTS / "image_index_real.md").write_text(md)
    print(md)


def render(r: dict) -> str:
    lines = [f"Dense indexes on real SSCD descriptors, {r['when']} (at most "
             f"{r['rows'][-1]['vectors']:,} vectors: {r['registered_works']} registered works' "
             "own vectors plus "
             f"{r['filler_works']:,} filler works of {PER_WORK} real descriptors from "
             f"{r['filler_images']:,} unused clip-art images; {r['queries']} copies "
             f"({', '.join(f'{k} {v}' for k, v in r['queries_by_edit'].items())}), "
             f"{r['views_per_query']} views each; 2 CPU cores)", "",
             "| works | vectors | index | efSearch | nprobe | build s | copied work among the 20 "
             "per view | same best similarity as exact | search ms per image p50 | p95 |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for row in r["rows"]:
        lines.append(f"| {row['works']:,} | {row['vectors']:,} | {row['factory']} | "
                     f"{row['ef_search'] or ''} | {row['nprobe'] or ''} | "
                     f"{row['build_s']} | {row['copied_work_found']:.3f} | "
                     f"{row['same_best_similarity']:.3f} | {row['search_ms_per_image_p50']} | "
                     f"{row['search_ms_per_image_p95']} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
