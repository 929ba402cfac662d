"""Which query window grid finds works pasted into scenes? Measured on the CALIBRATION split
(never the benchmark's images), so the choice in screening/image/profiles.py is not tuned on
the benchmark.

For every scene query (a work pasted at 45-65% scale into a photo) and every distractor scene
query, each grid's non-blank windows are described with SSCD and compared with the registered
works' whole-image descriptors. Reported: median best-window similarity to the true work,
the highest similarity any distractor scene reaches with any work, the share of pasted works
whose true similarity beats that highest distractor and the 99th-percentile distractor
(a 1% false-positive rate on scenes), the AUC of true vs distractor best similarities, and
the cost in windows.

    python benchmarks/image_region_grid.py --data .cache/data/root
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from image_data import build_set, load_pools, skimage_scenes, split  # noqa: E402

from models.imaging import is_blank, load_image  # noqa: E402
from models.sscd import SscdExtractor  # noqa: E402
from screening.image.views import grid, views  # noqa: E402

GRIDS = {
    "0.5x3+0.7x2": grid(0.5, 3) + grid(0.7, 2),
    "0.4x4+0.6x3": grid(0.4, 4) + grid(0.6, 3),
    "0.5x3+0.35x4+0.7x2": grid(0.5, 3) + grid(0.35, 4) + grid(0.7, 2),
    "0.45x4+0.3x5": grid(0.45, 4) + grid(0.3, 5),
}
RESULTS = Path(__file__).resolve().parent / "results"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--work", type=Path, default=Path(".cache/bench/calib"))
    ap.add_argument("--limit", type=int, default=100)
    args = ap.parse_args()
    parts = split(load_pools(args.data))
    labelled = build_set("cal", parts["calib_works"], parts["calib_distractors"],
                         skimage_scenes(), seed=7, out=args.work)
    works = dict(labelled.works)
    ids = list(works)
    pos = [q for q in labelled.queries if q.edit == "scene" and q.source][: args.limit]
    neg = [q for q in labelled.queries if q.edit == "scene" and not q.source][: args.limit]
    lines = [f"Window grids on the calibration split: {len(pos)} pasted works, {len(neg)} "
             "distractor scenes", "",
             "| model | grid | window px | windows | median true sim | max distractor sim | "
             "recall above max | recall at 1% FPR | AUC | seconds |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for model in ("sscd", "sscd_distilled"):
        ex = SscdExtractor(model, 224)
        reg = ex.extract([load_image(works[k]).image for k in ids])
        for name, boxes in GRIDS.items():
            for size in (160,):
                t0 = time.perf_counter()

                def best(q, true=None, boxes=boxes, size=size, ex=ex, reg=reg):  # type: ignore[no-untyped-def]
                    img = load_image(q.path).image
                    vs = [v for v in views(img, boxes) if not is_blank(v)]
                    sims = ex.extract_arrays([ex.prepare(v, size) for v in vs]) @ reg.T
                    return sims[:, ids.index(true)].max() if true else sims.max()

                p = np.array([best(q, q.source) for q in pos])
                n = np.array([best(q) for q in neg])
                auc = float(np.mean(p[:, None] > n[None, :]))
                row = (f"| {model} | {name} | {size} | {len(boxes)} | {np.median(p):.3f} | "
                       f"{n.max():.3f} | {np.mean(p > n.max()):.2f} | "
                       f"{np.mean(p > np.quantile(n, 0.99)):.2f} | {auc:.3f} | "
                       f"{time.perf_counter() - t0:.0f} |")
                print(row, flush=True)
                lines.append(row)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "image_region_grid.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
