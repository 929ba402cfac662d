"""Fit the image calibrators (screening/calibration_data/image-*.json) on a labelled set.

The set is built from clip art disjoint from the benchmark's (see image_data.split), with the
same seven edit families, scenes from scikit-image photos instead of GNOME wallpapers, and
another seed. Every (query, candidate work) pair the pipeline reports is a training row; the
label says whether the query was made from that work. Two-fold cross-fitting (folds by
query) gives the held-out expected calibration error recorded in each file.

    python benchmarks/fit_image_calibration.py --data .cache/data/root
"""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from image_data import build_set, load_pools, skimage_scenes, split  # noqa: E402
from image_eval import cached_run, open_workspace, threshold_at_precision  # noqa: E402

from screening.calibration import (  # noqa: E402
    LogisticCalibrator,
    cross_fit,
    feature_matrix,
    load_calibrator,
)
from screening.calibration.rows import TrainingRows  # noqa: E402

OUT = Path(__file__).resolve().parent.parent / "screening" / "calibration_data"
VERSION = "2026.11.2"
#: Ridge strength on the mean log-loss. Most training pairs are easy negatives, so the mean
#: loss is tiny and a larger ridge (1e-3 was tried) shrinks the model until clear copies
#: score only ~0.6; 1e-6 keeps it finite on separable folds without that bias.
L2 = 1e-6

def hinged(*names: str, knots: tuple[float, ...] = (0.3, 0.5, 0.7)) -> list[str]:
    return [f"{n}>{k}" if k is not None else n for n in names for k in (None, *knots)]


BASE = hinged("hash", "sscd_whole", "sscd_region", "sscd_region2", "sscd_margin",
              knots=(0.2, 0.4, 0.6, 0.8))
NORM = hinged("sscd_whole_norm", "sscd_region_norm", knots=(0.2, 0.4, 0.6))
#: pHash and PDQ apart as well as their best ("hash"): PDQ's 256 bits leave unrelated images
#: far lower (best unrelated ~0.6) than pHash's 64 (~0.75), so a PDQ of 0.75 is strong
#: evidence that a pHash of 0.75 is not. With only their maximum, a heavily blurred copy
#: (PDQ 0.8-0.9, SSCD near zero) scored as doubtful. Held-out recall at precision 0.99 on
#: this split: accurate + background 0.892 -> 0.930, fast 0.820 -> 0.859.
HASHES = hinged("pdq", knots=(0.6, 0.7, 0.8)) + hinged("phash", knots=(0.7, 0.8, 0.9))
#: Window refinement (profiles with `refine`, see screening/image/screening.py): the refined
#: similarity and what refining added to the grid's best.
REFINED = hinged("sscd_refined", knots=(0.4, 0.6, 0.8)) + hinged("refine_gain", knots=(0.1, 0.2))
# (profile, run with background set, signals). The background runs also carry every plain
# signal, so one run per profile serves both calibrators.
MODELS = {
    "image-accurate": ("accurate", True, BASE + HASHES + REFINED),
    "image-accurate-bg": ("accurate", True, BASE + NORM + HASHES + REFINED),
    "image-fast": ("fast", True, BASE + HASHES + REFINED),
    "image-fast-bg": ("fast", True, BASE + NORM + HASHES + REFINED),
    "image-hash": ("hash", False, hinged("hash", "phash", "pdq",
                                         knots=(0.6, 0.7, 0.8, 0.9))),
}


def raw_rows(labelled, run):  # type: ignore[no-untyped-def]
    """(signals, label, query index) of every reported (query, work) pair."""
    x, y, q = [], [], []
    for i, (query, r) in enumerate(zip(labelled.queries, run.results, strict=True)):
        for m in r.get("matches", []):
            x.append(m["signals"])
            y.append(float(m["external_id"] == query.source))
            q.append(i)
    return x, y, q


def rows(labelled, run, features):  # type: ignore[no-untyped-def]
    x, y, q = raw_rows(labelled, run)
    return feature_matrix(features, x), np.array(y), np.array(q)


#: Easy negatives (label 0 and probability under EASY by the calibrator) kept in the shipped
#: rows: 1 in 20, each weighted 20 (they are ~95% of the rows and carry little information).
EASY, KEEP_EASY = 1e-3, 0.05


def save_rows(name, features, labelled, run, cal) -> None:  # type: ignore[no-untyped-def]
    """Ship the rows beside the calibrator (refits from reviewers' verdicts add to them)."""
    x, y, q = raw_rows(labelled, run)
    names = sorted({f.partition(">")[0] for f in features})
    rows = TrainingRows.from_signals(x, y, q, names)
    easy = (rows.labels == 0) & (cal.probabilities_of(x) < EASY)
    rows.thinned(easy, KEEP_EASY).save(OUT / f"{name}.rows.npz")


def top_per_query(n: int, q, y, p) -> tuple[np.ndarray, np.ndarray]:  # type: ignore[no-untyped-def]
    """Per query (of n), its best probability among training rows (query index q, label y,
    probability p), and whether that best row is the right work."""
    top, right = np.zeros(n), np.zeros(n, dtype=bool)
    for i, yy, pp in zip(q, y, p, strict=True):
        if pp > top[i]:
            top[i], right[i] = pp, yy > 0
    return top, right


def heldout_recall(labelled, q, y, held, precision: float = 0.99) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """(recall, false-positive rate) of the held-out probabilities at the lowest global
    threshold with precision >= `precision`, counted per query as the benchmark does: a
    copy is found when its top work is the right one and reaches the threshold."""
    t = threshold_at_precision(held, y > 0, precision)
    top, right = top_per_query(len(labelled.queries), q, y, held)
    pos = np.array([bool(x.source) for x in labelled.queries])
    return float((right & (top >= t))[pos].mean()), float((top >= t)[~pos].mean())


def gate_tradeoff(labelled, fast, accurate) -> None:  # type: ignore[no-untyped-def]
    """How the cascade's gate trades work for recall on this split, from held-out
    probabilities: for each gate, the copies that the accurate profile finds (true work
    >= 0.5) but the fast stage would have answered alone (lost), and the share of copies
    and of distractors looked at twice. `fast`, `accurate`: (query index, is true, held-out
    probability) per training row."""
    n = len(labelled.queries)
    f_top, a_true = np.zeros(n), np.zeros(n)
    np.maximum.at(f_top, fast[0], fast[2])
    np.maximum.at(a_true, accurate[0], np.where(accurate[1] > 0, accurate[2], 0.0))
    pos = np.array([bool(q.source) for q in labelled.queries])
    found = pos & (a_true >= 0.5)
    print(f"gate trade-off ({found.sum()} copies found by accurate at 0.5; "
          f"{pos.sum()} copies, {(~pos).sum()} distractors):")
    for gate in (0.01, 0.02, 0.05, 0.1, 0.2):
        print(f"  gate {gate:<5} lost {int((found & (f_top < gate)).sum()):3d}  "
              f"looked at twice: copies {(pos & (f_top >= gate)).sum() / pos.sum():.3f}, "
              f"distractors {(~pos & (f_top >= gate)).sum() / (~pos).sum():.3f}")
    # the upper gate: images the fast stage is sure of are answered by it
    _, f_right = top_per_query(n, *fast)
    for sure in (0.9, 0.95, 0.99, 0.999):
        done = f_top >= sure
        print(f"  sure {sure:<5} answered by fast: copies {done[pos].mean():.3f}, "
              f"distractors {done[~pos].mean():.4f}; top work wrong there "
              f"{int((done & ~f_right).sum())}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", type=Path, required=True, help="unpacked Debian data root")
    ap.add_argument("--work", type=Path, default=Path(".cache/bench/calib"))
    ap.add_argument("--fresh", action="store_true", help="ignore cached screening runs")
    ap.add_argument("--rows-only", action="store_true",
                    help="write only the training rows (<name>.rows.npz), not the calibrators")
    args = ap.parse_args()
    pools = load_pools(args.data)
    parts = split(pools)
    labelled = build_set("cal", parts["calib_works"], parts["calib_distractors"],
                         skimage_scenes(), seed=7, out=args.work,
                         background=parts["background"])
    ws = open_workspace(args.work / "data", labelled, ["accurate", "fast", "hash"])
    runs = {}
    held_out = {}
    for name, (profile, bg, features) in MODELS.items():
        key = (profile, bg)
        if key not in runs:
            runs[key] = cached_run(ws, labelled, profile, bg,
                                   args.work / f"run-{profile}-{int(bg)}.pkl", args.fresh)
        if args.rows_only:
            save_rows(name, features, labelled, runs[key], load_calibrator(name))
            print(f"{name}: rows written")
            continue
        x, y, q = rows(labelled, runs[key], features)
        coef, b, ece, brier, held = cross_fit(x, y, q, L2)
        recall, fpr = heldout_recall(labelled, q, y, held)
        cal = LogisticCalibrator(
            name=name, version=VERSION, features=tuple(features),
            coef=tuple(round(float(c), 6) for c in coef), intercept=round(b, 6),
            fit={"data": "openclipart-png calibration split (disjoint from the benchmark), "
                         "7 edit families, scikit-image scenes, seed 7",
                 "script": "benchmarks/fit_image_calibration.py", "date": str(date.today()),
                 "pairs": int(len(y)), "positives": int(y.sum()),
                 "heldout_ece": round(ece, 5), "heldout_brier": round(brier, 5),
                 "heldout_recall_p99": round(recall, 4), "heldout_fpr_p99": round(fpr, 4)})
        (OUT / f"{name}.json").write_text(cal.to_json())
        save_rows(name, features, labelled, runs[key], cal)
        held_out[name] = (q, y, held)
        if name == "image-fast-bg":
            gate_tradeoff(labelled, held_out["image-fast-bg"], held_out["image-accurate-bg"])
        print(f"{name}: pairs={len(y)} positives={int(y.sum())} held-out ECE={ece:.4f} "
              f"Brier={brier:.4f} recall@P0.99={recall:.3f} (FPR {fpr:.3f}) "
              f"coef={cal.coef} b={cal.intercept}")


if __name__ == "__main__":
    main()
