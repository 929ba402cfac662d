"""What the same-character (derivative) signal does on the image benchmark's clip art, with
two calibrators side by side in one run: false flags on the distractors (other clip art) and
edited copies sent to review or block.

The image benchmark (image_copy_detection.py) registers its clip art as `artwork`, a
category the derivative signal applies to. One accurate-profile screening of its distractor
queries and of every third edited copy gives each candidate's signals; the decision is then
taken with the shipped calibrator and threshold, and again with an earlier calibrator file
and its threshold (default: the one fitted on game sprites alone, 2026.12.1, 0.94). The copy
probability and its thresholds are the same in both.

    python benchmarks/derivative_flags.py --data .cache/data/root
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from image_data import LabelledSet, bench_set  # noqa: E402
from image_eval import open_workspace, run_profile  # noqa: E402
from machine import describe, line  # noqa: E402
from publish import publish  # noqa: E402

from screening.calibration import LogisticCalibrator, load_calibrator  # noqa: E402
from screening.evaluation.edits import EDITS  # noqa: E402
from screening.settings import Settings  # noqa: E402

EARLIER = "30b0cf1"  # the commit that shipped the sprite-only calibrator
RANK = {"clear": 0, "review": 1, "block": 2}


def decision(result: dict, calibrator: LogisticCalibrator | None, review: float,
             s: Settings) -> tuple[str, set[str], bool]:
    """(decision, works flagged, whether the derivative signal made it) had each match's
    derivative probability come from `calibrator` (None: never) at review threshold
    `review`; it never blocks, as shipped. The copy decision is the shipped one."""
    best, works = "clear", set()
    for m in result.get("matches", []):
        d = "block" if m["score"] >= s.block_threshold else (
            "review" if m["score"] >= s.review_threshold else "clear")
        if calibrator is not None and m.get("derivative_score") is not None and d == "clear" \
                and calibrator.probability(m["signals"]) >= review:
            d = "review"
        if RANK[d] > RANK[best]:
            best = d
        if d != "clear":
            works.add(m["external_id"])
    by_derivative = calibrator is not None and best != "clear" and \
        decision(result, None, review, s)[0] == "clear"
    return best, works, by_derivative


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--work", type=Path, default=Path(".cache/bench/bench"))
    ap.add_argument("--earlier", default=EARLIER, help="commit of the calibrator to compare")
    ap.add_argument("--earlier-review", type=float, default=0.94)
    args = ap.parse_args()
    labelled = bench_set(args.data, args.work)
    queries = [q for i, q in enumerate(labelled.queries) if not q.source or i % 3 == 0]
    subset = LabelledSet(labelled.works, queries, labelled.manifest, labelled.background)
    ws = open_workspace(args.work / "data", labelled, ["accurate", "fast", "hash"])
    run = run_profile(ws, subset, "accurate", False)
    earlier = LogisticCalibrator.from_dict(json.loads(subprocess.run(
        ["git", "show", f"{args.earlier}:screening/calibration_data/image-character.json"],
        capture_output=True, text=True, check=True).stdout))
    s = Settings()
    shipped = load_calibrator("image-character")
    rows: dict[str, dict] = {}
    for name, cal, review in (("shipped", shipped, s.derivative_review_threshold),
                              ("earlier", earlier, args.earlier_review)):
        per_edit: dict[str, list[bool]] = {e: [] for e in EDITS}
        neg, by_derivative = [], 0
        for q, r in zip(queries, run.results, strict=True):
            d, works, derivative = decision(r, cal, review, s)
            if q.source:
                per_edit[q.edit].append(d != "clear" and q.source in works)
            else:
                neg.append(d != "clear")
                by_derivative += derivative
        rows[name] = {"decided_by_edit": {e: round(sum(v) / len(v), 4)
                                          for e, v in per_edit.items() if v},
                      "copies": {e: len(v) for e, v in per_edit.items()},
                      "distractors": len(neg),
                      "distractors_flagged": round(sum(neg) / len(neg), 4),
                      "flagged_by_derivative": by_derivative,
                      "shipped_decisions_agree": None}
    # the recomputed shipped decision must be the screener's own (a check of decision())
    agree = sum(decision(r, shipped, s.derivative_review_threshold, s)[0]
                == r.get("decision", "clear") for r in run.results)
    rows["shipped"]["shipped_decisions_agree"] = f"{agree} of {len(run.results)}"
    rows["shipped"]["calibrator"] = f"shipped, review {s.derivative_review_threshold}"
    rows["earlier"]["calibrator"] = f"{args.earlier}, review {args.earlier_review}"
    publish("derivative_flags", {"benchmark": "derivative_flags", "machine": describe(),
                                 "date": datetime.now(UTC).isoformat(timespec="seconds"),
                                 "rows": rows}, render)


def render(r: dict) -> str:
    edits = list(r["rows"]["shipped"]["decided_by_edit"])
    head = (f"Derivative signal on the image benchmark's clip art, {r['date']} "
            f"({line(r['machine'])})"
            "\n\n| calibrator | " + " | ".join(edits) + " | distractors flagged | of which by the "
            "derivative signal |\n|---|" + "---|" * (len(edits) + 2) + "\n")
    body = "".join(
        f"| {row['calibrator']} | " + " | ".join(f"{row['decided_by_edit'][e]:.3f}" for e in edits)
        + f" | {row['distractors_flagged']:.3f} ({row['distractors']}) | "
        f"{row['flagged_by_derivative']} |\n" for row in r["rows"].values())
    n = r["rows"]["shipped"]["copies"]
    return head + body + ("\nEdited copies (every third of each edit: " + json.dumps(n) +
                          ") count when sent to review or block with the right work flagged.\n")


if __name__ == "__main__":
    main()
