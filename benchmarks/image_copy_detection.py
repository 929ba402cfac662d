"""Public image copy-detection benchmark (issue 2), with baselines in the same run.

Registered works: 197 deduplicated openclipart-png images + 3 GNOME wallpaper designs. Distractors:
100 other clip-art images, screened unedited and under every edit. Queries: every work under
the 7 edit families of screening.evaluation.edits (scenes are the other GNOME wallpaper designs).
Background set for score normalisation: 300 further clip-art images. None of these images is
in the calibration split.

Methods, all on the same queries and registry:
  ipscreen accurate (+/- background normalisation), ipscreen fast, hash-only profile,
  baseline pHash only (imagehash), baseline SSCD whole image only.
Reports micro-AP, recall at precision 0.99 (one global threshold) overall and per edit,
false-positive rate on distractor queries at that threshold, recall/FPR at the shipped
decision thresholds, end-to-end images/s (decode, features, search, fusion) and peak RSS.
Then index search time against 10k and 100k synthetic registered works.

    python benchmarks/image_copy_detection.py --data .cache/data/root
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from image_data import bench_set  # noqa: E402
from image_eval import (  # noqa: E402
    cached_run,
    decided,
    false_positive_rate,
    flagged,
    micro_ap,
    open_workspace,
    pairs,
    recall_at,
    run_profile,
    threshold_at_precision,
)
from machine import describe, line  # noqa: E402
from publish import publish  # noqa: E402
from synthetic import planted as plant  # noqa: E402

from screening.evaluation.edits import EDITS  # noqa: E402
from screening.service import Workspace  # noqa: E402
from screening.settings import Settings  # noqa: E402

SHIPPED_HASH = "hash, shipped report settings"


def score_method(labelled, run, signal=None, thresholds=(0.5, 0.9)):  # type: ignore[no-untyped-def]
    qi, scores, truth, n_pos = pairs(labelled, run, signal)
    t99 = threshold_at_precision(scores, truth, 0.99)
    out = {
        "micro_ap": round(micro_ap(scores, truth, n_pos), 4),
        "threshold_p99": None if not np.isfinite(t99) else round(t99, 4),
        "recall_p99": round(recall_at(qi, scores, truth, labelled, t99), 4),
        "fpr_p99": round(false_positive_rate(qi, scores, labelled, t99), 4),
        "recall_p99_by_edit": {e: round(recall_at(qi, scores, truth, labelled, t99, e), 4)
                               for e in EDITS},
    }
    if signal is None:
        for name, t in zip(("review", "block"), thresholds, strict=True):
            out[f"recall_{name}"] = round(recall_at(qi, scores, truth, labelled, t), 4)
            out[f"fpr_{name}"] = round(false_positive_rate(qi, scores, labelled, t), 4)
        # what the shipped decision does, derivative signal included (issue 28's target:
        # every edit >= 0.95 sent to review or block, distractors flagged <= 1%)
        out["decided_by_edit"] = {e: round(decided(labelled, run, e), 4) for e in EDITS}
        out["distractors_flagged"] = round(flagged(labelled, run), 4)
    return out


def index_scaling(sizes: list[int], factories: list[str], queries_per_image: int,
                  per_work: int) -> list[dict]:
    """Search time per screened image against synthetic registries (per_work vectors a work,
    as the accurate profile indexes at most; 8 pHashes per work)."""
    from indexes.binary import BinaryHashIndex
    from indexes.dense import DenseIndex
    from models.base import FeatureSpec

    rng = np.random.default_rng(0)
    out = []
    for n in sizes:
        for factory in factories:
            spec = FeatureSpec("synthetic", "1", "dense", 512)
            index = DenseIndex(spec, factory)
            t0 = time.perf_counter()
            planted = []  # one stored vector per 1,000 works, to plant near queries
            for start in range(0, n, 1000):
                block = rng.standard_normal((1000 * per_work, 512), dtype=np.float32)
                block /= np.linalg.norm(block, axis=1, keepdims=True)
                index.add_new(list(range(start, start + 1000)),
                              [block[i * per_work:(i + 1) * per_work] for i in range(1000)])
                planted.append((start + 7, block[7 * per_work]))
            build = time.perf_counter() - t0
            q = rng.standard_normal((queries_per_image * 20, 512), dtype=np.float32)
            # the first view of each image has a planted work at cosine 0.5, as a window
            # of a pasted work has: is it among the 20 works returned?
            targets = [planted[i % len(planted)] for i in range(20)]
            first = slice(0, len(q), queries_per_image)
            q[first] = plant(np.stack([v for _, v in targets]), q[first], 0.5)
            q /= np.linalg.norm(q, axis=1, keepdims=True)
            index.search(q[:queries_per_image], 20)
            t0 = time.perf_counter()
            found = 0
            for i in range(20):
                hits = index.search(q[i * queries_per_image:(i + 1) * queries_per_image], 20)
                found += any(h.work_id == targets[i][0] for h in hits[0])
            per_image = (time.perf_counter() - t0) / 20
            out.append({"works": n, "index": f"dense {factory}", "vectors": index.ntotal,
                        "build_s": round(build, 1),
                        "search_ms_per_image": round(per_image * 1e3, 2),
                        "planted_found": found / 20})
            print(out[-1], file=sys.stderr)
            del index
        b = BinaryHashIndex(FeatureSpec("synthetic_hash", "1", "binary", 64))
        codes = rng.integers(0, 256, (n * 8, 8), dtype=np.uint8)
        b.add_new(list(range(n)), [codes[i * 8:(i + 1) * 8] for i in range(n)])
        qb = rng.integers(0, 256, (20, 8), dtype=np.uint8)
        t0 = time.perf_counter()
        for i in range(20):
            b.search(qb[i:i + 1], 20)
        per_image = (time.perf_counter() - t0) / 20
        out.append({"works": n, "index": "binary pHash flat", "vectors": b.ntotal,
                    "build_s": None, "search_ms_per_image": round(per_image * 1e3, 2)})
        print(out[-1], file=sys.stderr)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--work", type=Path, default=Path(".cache/bench/bench"))
    ap.add_argument("--scale", default="10000,100000")
    ap.add_argument("--factories", default="Flat;HNSW32;PQ64x4fs,RFlat",
                    help="dense factories for the scaling rows, separated by ';' (FAISS "
                         "factory strings hold commas)")
    ap.add_argument("--fresh", action="store_true", help="re-screen instead of cached runs")
    ap.add_argument("--rerun", default="", type=lambda s: set(s.split(",")),
                    help="comma-separated runs to re-measure (accurate, accurate+bg, fast, "
                         "hash, scaling); the others come from the cache")
    args = ap.parse_args()
    labelled = bench_set(args.data, args.work)
    ws = open_workspace(args.work / "data", labelled, ["accurate", "fast", "hash"])
    plan = {"accurate": ("accurate", False), "accurate+bg": ("accurate", True),
            "cascade": ("cascade", False), "cascade+bg": ("cascade", True),
            "fast": ("fast", False), "hash": ("hash", False)}
    runs = {name: cached_run(ws, labelled, profile, bg, args.work / f"run-{name}.pkl",
                             args.fresh or name in args.rerun)
            for name, (profile, bg) in plan.items()}
    # The runs above report every candidate (for micro-AP), so they read and format far more
    # matches than a deployment does; the hash profile is fast enough for that to show.
    # Timed again right after it at the shipped settings (report >= 0.05, 5 matches): the
    # same scores, fewer matches read and written.
    shipped = Workspace(Settings(data_dir=args.work / "data",
                                 maintained_profiles=["accurate", "fast", "hash"]),
                        create=False, progress=False)
    runs[SHIPPED_HASH] = cached_run(shipped, labelled, "hash", False,
                                    args.work / "run-hash-shipped.pkl",
                                    args.fresh or "hash" in args.rerun)
    methods = {
        "ipscreen accurate": score_method(labelled, runs["accurate"]),
        "ipscreen accurate + background norm": score_method(labelled, runs["accurate+bg"]),
        "ipscreen cascade (fast, then accurate where needed)": score_method(
            labelled, runs["cascade"]),
        "ipscreen cascade + background norm": score_method(labelled, runs["cascade+bg"]),
        "ipscreen fast": score_method(labelled, runs["fast"]),
        "ipscreen hash-only": score_method(labelled, runs["hash"]),
        "baseline pHash only": score_method(labelled, runs["hash"], signal="phash"),
        "baseline SSCD whole image only": score_method(labelled, runs["accurate"],
                                                       signal="sscd_whole"),
    }
    speed = {name: {"images_per_s": round(r.images_per_s, 1),
                    "peak_rss_mb": round(r.peak_rss_mb)} for name, r in runs.items()}
    # The cascade's cost depends on what it screens: copies are looked at twice, most
    # unrelated images once. Timed separately on each part of the set.
    split_cache = args.work / "cascade-split.json"
    if split_cache.exists() and not args.fresh and "cascade+bg" not in args.rerun:
        cascade_split = json.loads(split_cache.read_text())
    else:
        cascade_split = {}
        for part, keep in (("distractors", False), ("copies", True)):
            sub = replace(labelled, queries=[q for q in labelled.queries
                                             if bool(q.source) == keep])
            run = run_profile(ws, sub, "cascade", True)
            cascade_split[part] = {
                "queries": len(sub.queries), "images_per_s": round(run.images_per_s, 1),
                "looked_at_twice": round(sum(
                    any("first_stage" in m["signals"] for m in res.get("matches", []))
                    for res in run.results) / len(sub.queries), 3)}
        split_cache.write_text(json.dumps(cascade_split))
    accurate_views = ws.image_screener("accurate").profile.views
    scaling_cache = args.work / f"scaling-{args.scale}-{args.factories}.json"
    if scaling_cache.exists() and not args.fresh and "scaling" not in args.rerun:
        scaling = json.loads(scaling_cache.read_text())
    else:
        scaling = index_scaling([int(s) for s in args.scale.split(",") if s],
                                [f for f in args.factories.split(";") if f],
                                len(accurate_views.query_windows) + 1,
                                accurate_views.n_work_variants)
        scaling_cache.write_text(json.dumps(scaling))
    report = {
        "benchmark": "image_copy_detection", "date": datetime.now().isoformat(timespec="seconds"),
        "machine": describe(),
        "set": {"works": len(labelled.works), "queries": len(labelled.queries),
                "positive_queries": sum(1 for q in labelled.queries if q.source),
                "distractor_queries": sum(1 for q in labelled.queries if not q.source),
                "background": len(labelled.background)},
        "methods": methods, "speed": speed, "cascade_split": cascade_split,
        "index_scaling": scaling,
    }
    publish("image_copy_detection", report, render)


def render(r: dict) -> str:
    edits = list(EDITS)
    lines = [f"Image copy detection, {r['date']} ({r['set']['works']} works, "
             f"{r['set']['positive_queries']} edited copies, {r['set']['distractor_queries']} "
             f"distractor queries; {line(r.get('machine'))})",
             "",
             "| method | micro-AP | recall @P0.99 | FPR @P0.99 | " + " | ".join(edits) + " |",
             "|---" * (4 + len(edits)) + "|"]
    for name, m in r["methods"].items():
        lines.append(f"| {name} | {m['micro_ap']:.3f} | {m['recall_p99']:.3f} | "
                     f"{m['fpr_p99']:.3f} | " + " | ".join(
                         f"{m['recall_p99_by_edit'][e]:.2f}" for e in edits) + " |")
    lines += ["", "At the shipped decision thresholds (review >= 0.5, block >= 0.9):", "",
              "| method | recall (review) | FPR (review) | recall (block) | FPR (block) |",
              "|---|---|---|---|---|"]
    for name, m in r["methods"].items():
        if "recall_review" in m:
            lines.append(f"| {name} | {m['recall_review']:.3f} | {m['fpr_review']:.3f} | "
                         f"{m['recall_block']:.3f} | {m['fpr_block']:.3f} |")
    lines += ["", "Sent to review or block with the right work flagged, by edit, and distractors "
              "flagged (the shipped decision, derivative signal included):", "",
              "| method | " + " | ".join(edits) + " | distractors flagged |",
              "|---" * (2 + len(edits)) + "|"]
    for name, m in r["methods"].items():
        if "decided_by_edit" in m:
            lines.append(f"| {name} | " + " | ".join(
                f"{m['decided_by_edit'][e]:.3f}" for e in edits)
                + f" | {m['distractors_flagged']:.3f} |")
    lines += ["", "| run | images/s end to end | peak RSS MB |", "|---|---|---|"]
    for name, s in r["speed"].items():
        lines.append(f"| {name} | {s['images_per_s']} | {s['peak_rss_mb']} |")
    lines += ["", "Cascade + background norm by kind of input:", "",
              "| queries | count | looked at twice | images/s |", "|---|---|---|---|"]
    for part, c in r.get("cascade_split", {}).items():
        lines.append(f"| {part} | {c['queries']} | {c['looked_at_twice']:.3f} | "
                     f"{c['images_per_s']} |")
    lines += ["", "| registered works | index | vectors | build s | search ms per image "
              "| planted work (cosine 0.5) found |", "|---|---|---|---|---|---|"]
    for s in r["index_scaling"]:
        found = s.get("planted_found")
        lines.append(f"| {s['works']} | {s['index']} | {s['vectors']} | {s['build_s']} | "
                     f"{s['search_ms_per_image']} | "
                     f"{'' if found is None else f'{found:.2f}'} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
