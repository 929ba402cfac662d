"""Refitting a calibrator from reviewers' verdicts.

A deployment's own outputs judged by people are the best calibration set there is, but a
few dozen of them must not replace the thousands of labelled rows the packaged calibrator
was fitted on. So the refit adds the verdicts to those rows (screening/calibration/rows.py),
each verdict weighted `weight` times a shipped row, with the same monotone logistic model
and hinge features, and changes nothing below `min_verdicts` usable verdicts.

Usable: a verdict that says copy or not (infringing and licensed: the output copies the
work; not_infringing: it does not; unsure is left out) on a match decided by its copy
probability (not by the character rule or the whole-work rule, which this calibrator does
not make), with every signal the calibrator reads.

The report is honest about what changed: the verdicts are split in two folds (by case), and
for each fold the refit without it is measured on it, beside the calibrator in force:
calibration error, and recall and false-flag rate at the review threshold. The shipped rows'
held-out error is measured the same way (two folds by query) before and after.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np

from screening.calibration import (
    LogisticCalibrator,
    feature_matrix,
    fit_monotone_logistic,
)
from screening.calibration.rows import TrainingRows
from screening.errors import InvalidInputError
from screening.review.cases import COPY_LABEL

#: The ridge the fit scripts use (benchmarks/fit_*_calibration.py): most rows are easy
#: negatives, and a larger ridge shrinks clear copies' probabilities.
REFIT_L2 = 1e-6


@dataclass(frozen=True)
class VerdictRows:
    signals: list[dict[str, float]]
    labels: np.ndarray
    cases: np.ndarray


def usable(verdicts: list[dict], features: tuple[str, ...]) -> VerdictRows:
    """The verdicts that can label this calibrator's rows (see the module docstring); one
    per case (the latest)."""
    needed = {f.partition(">")[0] for f in features}
    latest: dict[int, dict] = {}
    for v in verdicts:
        latest[v["case"]] = v
    sig, lab, cases = [], [], []
    for case, v in sorted(latest.items()):
        label = COPY_LABEL.get(v["verdict"])
        meta = v["signals"]
        signals = meta.get("signals", {})
        if label is None or meta.get("similarity_kind", "copy") != "copy" \
                or meta.get("reproduction") or not needed <= set(signals):
            continue
        sig.append({k: float(signals[k]) for k in needed})
        lab.append(label)
        cases.append(case)
    return VerdictRows(sig, np.array(lab, dtype=float), np.array(cases, dtype=int))


def _at(p: np.ndarray, y: np.ndarray, review: float, w: np.ndarray | None = None) -> dict:
    """Calibration error (10 equal-width bins), recall and false-flag rate at the review
    threshold, each row weighted by `w` (the shipped rows' importance weights)."""
    w = np.ones(len(y)) if w is None else w
    pos, neg = y > 0, y == 0
    bins = np.minimum((p * 10).astype(int), 9)
    ece = sum(abs(np.average(p[bins == b], weights=w[bins == b])
                  - np.average(y[bins == b], weights=w[bins == b])) * w[bins == b].sum()
              for b in range(10) if (bins == b).any()) / w.sum()
    flagged = (p >= review).astype(float)
    return {"ece": round(float(ece), 5),
            "recall": round(float(np.average(flagged[pos], weights=w[pos])), 4)
            if pos.any() else None,
            "false_flags": round(float(np.average(flagged[neg], weights=w[neg])), 4)
            if neg.any() else None}


def refit(current: LogisticCalibrator, shipped: TrainingRows, verdicts: VerdictRows,
          review: float, weight: float = 5.0, min_verdicts: int = 20,
          version: str | None = None) -> tuple[LogisticCalibrator | None, dict]:
    """(the refitted calibrator, or None when too few verdicts; the report)."""
    n = len(verdicts.labels)
    report: dict = {"calibrator": f"{current.name}@{current.version}", "verdicts": n,
                    "positives": int(verdicts.labels.sum()) if n else 0, "weight": weight,
                    "min_verdicts": min_verdicts, "review_threshold": review}
    if not 0 < weight <= 1000:
        raise InvalidInputError("weight must be above 0 and at most 1,000")
    if n < min_verdicts or len(set(verdicts.labels.tolist())) < 2:
        report["changed"] = False
        report["reason"] = (f"{n} usable verdicts; at least {min_verdicts}, of both kinds "
                            "(copy and not), are needed before the calibrator changes")
        return None, report
    feats = current.features
    xs = feature_matrix(feats, shipped.signals())
    xv = feature_matrix(feats, verdicts.signals)
    ys, yv = shipped.labels, verdicts.labels

    def fit(x_v: np.ndarray, y_v: np.ndarray, keep: np.ndarray | None = None
            ) -> tuple[np.ndarray, float]:
        rows = np.ones(len(ys), dtype=bool) if keep is None else keep
        x = np.vstack([xs[rows], x_v])
        y = np.concatenate([ys[rows], y_v])
        w = np.concatenate([shipped.weights[rows], np.full(len(y_v), weight)])
        return fit_monotone_logistic(x, y, REFIT_L2, weights=w)

    def prob(coef: np.ndarray, b: float, x: np.ndarray) -> np.ndarray:
        return 1 / (1 + np.exp(-np.clip(x @ coef + b, -40, 40)))

    # held out on the verdicts: fold by case parity
    fold = verdicts.cases % 2 == 1
    after = np.zeros(n)
    for f in (False, True):
        coef, b = fit(xv[fold != f], yv[fold != f])
        after[fold == f] = prob(coef, b, xv[fold == f])
    before = current.probabilities(xv)
    report["verdicts_heldout"] = {"before": _at(before, yv, review),
                                  "after": _at(after, yv, review)}
    # held out on the shipped rows: fold by query, the verdicts all in
    sfold = shipped.groups % 2 == 1
    s_after = np.zeros(len(ys))
    for f in (False, True):
        coef, b = fit(xv, yv, keep=sfold != f)
        s_after[sfold == f] = prob(coef, b, xs[sfold == f])
    ws = shipped.weights
    report["shipped_heldout"] = {"before": _at(current.probabilities(xs), ys, review, ws),
                                 "after": _at(s_after, ys, review, ws)}
    coef, b = fit(xv, yv)
    cal = LogisticCalibrator(
        name=current.name, version=version or f"{current.version}+verdicts{n}",
        features=feats, coef=tuple(round(float(c), 6) for c in coef),
        intercept=round(float(b), 6),
        fit={**{k: v for k, v in current.fit.items() if k in ("data", "script")},
             "refit": f"{n} reviewers' verdicts (weight {weight:g}) added to the shipped "
                      f"rows of {current.name}", "date": str(date.today()),
             "pairs": int(len(ys) + n), "positives": int(ys.sum() + yv.sum())})
    report["changed"] = True
    report["version"] = f"{cal.name}@{cal.version}"
    return cal, report
