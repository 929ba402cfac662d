"""Refitting a calibrator from reviewers' verdicts.

A deployment's own outputs judged by people are the best calibration set there is, but a
few dozen of them must not replace the thousands of labelled rows the packaged calibrator
was fitted on. So the refit adds the verdicts to those rows (screening/calibration/rows.py),
each verdict weighted against one shipped row, with the same monotone logistic model and
hinge features, and changes nothing below `min_verdicts` usable verdicts.

Usable: a verdict that says copy or not (infringing and licensed: the output copies the
work; not_infringing: it does not; unsure is left out) on a match decided by its copy
probability (not by the character rule or the whole-work rule, which this calibrator does
not make), with every signal the calibrator reads.

Everything is measured held out: the verdicts in two folds by case (the refit without a
fold scores it), the shipped rows in two folds by query (the refit with every verdict but
without those rows scores them). Unless a weight is given, each of WEIGHTS is tried and the
one with the lowest held-out log-loss on the verdicts is kept among those that flag no
more of the shipped rows' distractor queries than the calibrator in force (a guard: what
the verdicts teach must not cost the data it was fitted on); when none passes, nothing
changes. The report gives calibration error, recall and false flags at the review
threshold before and after, per row, and per query on the shipped rows.
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


#: The verdict weights tried when none is given: each is measured on held-out verdicts and
#: held-out shipped rows, and the best that flags no more of the shipped distractor queries
#: than the calibrator in force is chosen.
WEIGHTS = (1.0, 2.0, 5.0, 10.0, 20.0)


def _queries(p: np.ndarray, y: np.ndarray, groups: np.ndarray, review: float) -> dict:
    """Per query, as the benchmarks count: a copy query is found when its right work has
    its best probability and reaches `review`; a distractor query (no right work among its
    rows) is flagged when any row reaches it."""
    order = np.lexsort((-p, groups))
    g, first = np.unique(groups[order], return_index=True)
    top_p, top_y = p[order][first], y[order][first]
    has_pos = np.zeros(len(g), dtype=bool)
    has_pos[np.searchsorted(g, groups[y > 0])] = True
    hit = top_p >= review
    return {"copies": int(has_pos.sum()), "found": int((hit & (top_y > 0))[has_pos].sum()),
            "distractors": int((~has_pos).sum()), "flagged": int(hit[~has_pos].sum())}


def _log_loss(p: np.ndarray, y: np.ndarray) -> float:
    q = np.clip(p, 1e-6, 1 - 1e-6)
    return float(-np.mean(y * np.log(q) + (1 - y) * np.log(1 - q)))


def refit(current: LogisticCalibrator, shipped: TrainingRows, verdicts: VerdictRows,
          review: float, weight: float | None = None, min_verdicts: int = 20,
          version: str | None = None) -> tuple[LogisticCalibrator | None, dict]:
    """(the refitted calibrator, or None when nothing should change; the report).
    `weight`: a verdict's weight against one shipped row; None tries WEIGHTS and keeps the
    best one that passes the guard on the shipped rows (none passing: no change)."""
    n = len(verdicts.labels)
    report: dict = {"calibrator": f"{current.name}@{current.version}", "verdicts": n,
                    "positives": int(verdicts.labels.sum()) if n else 0,
                    "min_verdicts": min_verdicts, "review_threshold": review}
    if weight is not None and not 0 < weight <= 1000:
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

    def fit(w_v: float, x_v: np.ndarray, y_v: np.ndarray, keep: np.ndarray | None = None
            ) -> tuple[np.ndarray, float]:
        rows = np.ones(len(ys), dtype=bool) if keep is None else keep
        x = np.vstack([xs[rows], x_v])
        y = np.concatenate([ys[rows], y_v])
        w = np.concatenate([shipped.weights[rows], np.full(len(y_v), w_v)])
        return fit_monotone_logistic(x, y, REFIT_L2, weights=w)

    def prob(coef: np.ndarray, b: float, x: np.ndarray) -> np.ndarray:
        return 1 / (1 + np.exp(-np.clip(x @ coef + b, -40, 40)))

    fold = verdicts.cases % 2 == 1  # verdicts held out by case
    sfold = shipped.groups % 2 == 1  # shipped rows held out by query

    def trial(w_v: float) -> dict:
        after = np.zeros(n)
        for f in (False, True):
            coef, b = fit(w_v, xv[fold != f], yv[fold != f])
            after[fold == f] = prob(coef, b, xv[fold == f])
        s_after = np.zeros(len(ys))
        for f in (False, True):
            coef, b = fit(w_v, xv, yv, keep=sfold != f)
            s_after[sfold == f] = prob(coef, b, xs[sfold == f])
        return {"weight": w_v, "verdict_log_loss": round(_log_loss(after, yv), 5),
                "verdicts": _at(after, yv, review),
                "shipped": _at(s_after, ys, review, shipped.weights),
                "shipped_queries": _queries(s_after, ys, shipped.groups, review)}

    before_s = current.probabilities(xs)
    base: dict = {"verdict_log_loss": round(_log_loss(current.probabilities(xv), yv), 5),
            "verdicts": _at(current.probabilities(xv), yv, review),
            "shipped": _at(before_s, ys, review, shipped.weights),
            "shipped_queries": _queries(before_s, ys, shipped.groups, review)}
    tried = [trial(w) for w in ((weight,) if weight is not None else WEIGHTS)]
    guard = base["shipped_queries"]["flagged"]
    passing = [t for t in tried if t["shipped_queries"]["flagged"] <= guard]
    report["before"] = base
    report["tried"] = tried
    if weight is None and not passing:
        report["changed"] = False
        report["reason"] = ("every weight tried flags more of the shipped distractor queries "
                            f"than the calibrator in force ({guard}); nothing changed")
        return None, report
    best = min(passing or tried, key=lambda t: t["verdict_log_loss"])
    report["weight"] = best["weight"]
    report["after"] = best
    coef, b = fit(best["weight"], xv, yv)
    cal = LogisticCalibrator(
        name=current.name, version=version or f"{current.version}+verdicts{n}",
        features=feats, coef=tuple(round(float(c), 6) for c in coef),
        intercept=round(float(b), 6),
        fit={**{k: v for k, v in current.fit.items() if k in ("data", "script")},
             "refit": f"{n} reviewers' verdicts (weight {best['weight']:g}) added to the "
                      f"shipped rows of {current.name}", "date": str(date.today()),
             "pairs": int(len(ys) + n), "positives": int(ys.sum() + yv.sum())})
    report["changed"] = True
    report["version"] = f"{cal.name}@{cal.version}"
    return cal, report
