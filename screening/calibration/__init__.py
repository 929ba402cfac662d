"""Turning similarity signals into a calibrated probability that an output copies a work.

A logistic model over named signals, fitted by benchmarks/fit_image_calibration.py on a
labelled set of edited copies and unrelated images built from public images disjoint from the
benchmark's, and stored as JSON with a version (screening/calibration_data/*.json). Its expected
calibration error on held-out pairs is recorded in the same file.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from importlib import resources

import numpy as np

from screening.errors import ConfigurationError


@dataclass(frozen=True)
class LogisticCalibrator:
    """p = sigmoid(intercept + sum(coef_i * signal_i))."""

    name: str
    version: str
    features: tuple[str, ...]
    coef: tuple[float, ...]
    intercept: float
    #: Facts about the fit: data, sizes, held-out ECE and Brier score.
    fit: dict

    def probability(self, signals: dict[str, float]) -> float:
        return float(self.probabilities_of([signals])[0])

    def probabilities_of(self, signals: list[dict[str, float]]) -> np.ndarray:
        """probability() for many candidates at once (one matrix product)."""
        if not signals:
            return np.zeros(0)
        return self.probabilities(feature_matrix(self.features, signals))

    def probabilities(self, matrix: np.ndarray) -> np.ndarray:
        z = self.intercept + matrix @ np.asarray(self.coef)
        return 1.0 / (1.0 + np.exp(-np.clip(z, -40, 40)))

    def to_json(self) -> str:
        d = asdict(self)
        d["features"], d["coef"] = list(self.features), list(self.coef)
        return json.dumps(d, indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_dict(cls, d: dict) -> LogisticCalibrator:
        try:
            feats, coef = tuple(d["features"]), tuple(float(c) for c in d["coef"])
            if len(feats) != len(coef):
                raise ValueError("features and coef differ in length")
            return cls(str(d["name"]), str(d["version"]), feats, coef, float(d["intercept"]),
                       dict(d.get("fit", {})))
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigurationError(f"invalid calibration file: {exc}") from None


def feature_matrix(features: tuple[str, ...] | list[str],
                   signals: list[dict[str, float]]) -> np.ndarray:
    """Rows of calibrator features, one per candidate. A feature is a signal's value
    ("sscd") or a hinge on it ("sscd>0.6" is max(0, sscd - 0.6)). Hinges make the log-odds
    piecewise linear, so the model can be steep where copies and non-copies meet and flat
    elsewhere. Used by screening and by the calibration fit alike."""
    columns: dict[str, np.ndarray] = {}
    matrix = np.empty((len(signals), len(features)))
    for j, feature in enumerate(features):
        name, sep, knot = feature.partition(">")
        if name not in columns:
            columns[name] = np.fromiter((s[name] for s in signals), dtype=np.float64,
                                        count=len(signals))
        col = columns[name]
        matrix[:, j] = np.maximum(col - float(knot), 0.0) if sep else col
    return matrix


def load_calibrator(name: str) -> LogisticCalibrator:
    """The packaged calibrator `name` (e.g. "image-accurate")."""
    try:
        text = resources.files("screening.calibration_data").joinpath(f"{name}.json").read_text()
    except FileNotFoundError:
        raise ConfigurationError(
            f"no calibration {name!r} is packaged; run benchmarks/fit_*_calibration.py"
        ) from None
    return LogisticCalibrator.from_dict(json.loads(text))


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = 1e-3,
                 iterations: int = 100, weights: np.ndarray | None = None
                 ) -> tuple[np.ndarray, float]:
    """L2-regularised logistic regression by Newton's method; returns (coef, intercept).
    `weights`: each row's weight in the mean log-loss (default 1)."""
    n, d = x.shape
    sw = np.ones(n) if weights is None else np.asarray(weights, dtype=float)
    total = float(sw.sum())
    xa = np.hstack([x, np.ones((n, 1))])
    w = np.zeros(d + 1)
    reg = np.full(d + 1, l2)
    reg[-1] = 0.0
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-np.clip(xa @ w, -40, 40)))
        grad = xa.T @ (sw * (p - y)) / total + reg * w
        hess = (xa * (sw * p * (1 - p))[:, None]).T @ xa / total + np.diag(reg)
        step = np.linalg.solve(hess + 1e-9 * np.eye(d + 1), grad)
        w -= step
        if np.max(np.abs(step)) < 1e-9:
            break
    return w[:-1], float(w[-1])


def fit_monotone_logistic(x: np.ndarray, y: np.ndarray, l2: float = 1e-3,
                          weights: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    """Logistic regression whose coefficients are all >= 0, so more evidence of copying can
    never lower the probability (every signal is a similarity). Features whose coefficient
    comes out negative are dropped one at a time, most negative first, and the rest refitted.
    """
    active = list(range(x.shape[1]))
    while True:
        coef, b = fit_logistic(x[:, active], y, l2, weights=weights)
        if len(active) == 0 or coef.min() >= 0:
            full = np.zeros(x.shape[1])
            full[active] = coef
            return full, b
        del active[int(np.argmin(coef))]


def expected_calibration_error(p: np.ndarray, y: np.ndarray, bins: int = 10) -> float:
    """ECE with equal-width bins: sum over bins of |mean p - mean y| weighted by bin share."""
    p, y = np.asarray(p, dtype=float), np.asarray(y, dtype=float)
    if len(p) == 0:
        return 0.0
    idx = np.minimum((p * bins).astype(int), bins - 1)
    ece = 0.0
    for b in range(bins):
        m = idx == b
        if m.any():
            ece += m.mean() * abs(p[m].mean() - y[m].mean())
    return float(ece)


def cross_fit(x: np.ndarray, y: np.ndarray, groups: np.ndarray, l2: float
              ) -> tuple[np.ndarray, float, float, float, np.ndarray]:
    """Monotone logistic fit with honest error figures: two-fold cross-fitting with folds
    by group (a query's candidates stay together) gives the held-out probabilities, ECE and
    Brier score; the returned model is then fitted on all rows.
    Returns (coef, intercept, ece, brier, held-out probabilities)."""
    fold = (np.asarray(groups) % 2).astype(bool)
    held = np.zeros_like(y, dtype=float)
    for f in (False, True):
        coef, b = fit_monotone_logistic(x[fold != f], y[fold != f], l2)
        held[fold == f] = 1 / (1 + np.exp(-(x[fold == f] @ coef + b)))
    coef, b = fit_monotone_logistic(x, y, l2)
    return (coef, b, expected_calibration_error(held, y), float(np.mean((held - y) ** 2)),
            held)
