"""What the same-character (derivative) signal does on the image benchmark's clip art, with
two calibrators side by side in one run: false flags on the distractors (other clip art) and
edited copies sent to review or block.

The image benchmark (image_copy_detection.py) registers its clip art as `artwork`, a
category the derivative signal applies to. One accurate-profile screening of its distractor
queries and of every third edited copy gives each candidate's signals; the decision is then
taken with the shipped calibrator and threshold, and again with an earlier calibrator file
and its threshold (default: the one the 24x3x3 palette replaced, 2026.12.2 at 3dc84fd, 0.89,
applied to the new palette's signals; the sprite-only one was 30b0cf1, 0.94). The copy
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
from screening.decision import DECISIONS, Thresholds  # noqa: E402
from screening.evaluation.edits import EDITS  # noqa: E402
from screening.image.character import DerivativeRule, match_decision  # noqa: E402
from screening.settings import Settings  # noqa: E402

EARLIER = "3dc84fd"  # the last commit with the 12x4x4 palette's calibrator (2026.12.2)


def decision(result: dict, calibrator: LogisticCalibrator, review: float,
             t: Thresholds) -> tuple[str, set[str], bool]:
    """(decision, works flagged, whether only the derivative signal flagged it) had each
    match's derivative probability come from `calibrator` at review threshold `review`
    (never block, as shipped), through the screener's own match rule."""
    rule = DerivativeRule(review=review)
    best, works, by_copy = "clear", set(), False
    for m in result.get("matches", []):
        p = calibrator.probability(m["signals"]) if m.get("derivative_score") is not None \
            else None
        d, kind = match_decision(m["score"], p, t, rule)
        best = max(best, d, key=DECISIONS.index)
        if d != "clear":
            works.add(m["external_id"])
            by_copy = by_copy or kind == "copy"
    return best, works, best != "clear" and not by_copy


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--work", type=Path, default=Path(".cache/bench/bench"))
    ap.add_argument("--earlier", default=EARLIER, help="commit of the calibrator to compare")
    ap.add_argument("--earlier-review", type=float, default=0.89)
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
    t = Thresholds(s.block_threshold, s.review_threshold, s.report_threshold)
    shipped = load_calibrator("image-character")
    rows: dict[str, dict] = {}
    for name, cal, review in (("shipped", shipped, s.derivative_review_threshold),
                              ("earlier", earlier, args.earlier_review)):
        per_edit: dict[str, list[bool]] = {e: [] for e in EDITS}
        neg, by_derivative = [], 0
        for q, r in zip(queries, run.results, strict=True):
            d, works, derivative = decision(r, cal, review, t)
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
                      "flagged_by_derivative": by_derivative}
    # the recomputed shipped decision must be the screener's own (a check of decision())
    agree = sum(decision(r, shipped, s.derivative_review_threshold, t)[0]
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
