"""The labelled rows a packaged calibrator was fitted on, shipped beside it.

A calibrator is refitted when a deployment's reviewers give verdicts
(screening/calibration/verdicts.py): the verdicts are added to these rows, not fitted alone,
so a few dozen verdicts move the model only where they carry information. The fit scripts
(benchmarks/fit_*_calibration.py) write one file per calibrator,
`screening/calibration_data/<name>.rows.npz`: the raw signals by name (the calibrator's
hinge features are computed from them), the label, and the query each row came from (folds
for cross-fitting keep a query's rows together), and each row's weight: most rows are
easy negatives (an unrelated work far below the report threshold), so the file keeps a
random share of those, each weighted by the inverse of that share (importance sampling:
the weighted fit sees the same loss in expectation, and the file stays small).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from screening.errors import ConfigurationError


@dataclass(frozen=True)
class TrainingRows:
    names: tuple[str, ...]
    #: (rows, len(names)) raw signal values
    values: np.ndarray
    labels: np.ndarray
    groups: np.ndarray
    weights: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)

    @classmethod
    def from_signals(cls, signals: list[dict[str, float]], labels: list[float] | np.ndarray,
                     groups: list[int] | np.ndarray,
                     names: list[str] | tuple[str, ...] | None = None) -> TrainingRows:
        keys = tuple(sorted(names if names is not None else
                            {k for s in signals for k in s}))
        values = np.array([[float(s.get(k, 0.0)) for k in keys] for s in signals],
                          dtype=np.float32).reshape(len(signals), len(keys))
        return cls(keys, values, np.asarray(labels, dtype=np.float64),
                   np.asarray(groups, dtype=np.int64), np.ones(len(signals)))

    def thinned(self, easy: np.ndarray, keep: float, seed: int = 0) -> TrainingRows:
        """Keep a random `keep` share of the rows marked `easy` (weighted 1 / keep), and
        every other row."""
        if not 0 < keep <= 1:
            raise ValueError("keep must be in (0, 1]")
        draw = np.random.default_rng(seed).random(len(self.labels)) < keep
        rows = ~easy | draw
        w = np.where(easy, self.weights / keep, self.weights)
        return TrainingRows(self.names, self.values[rows], self.labels[rows],
                            self.groups[rows], w[rows])

    def signals(self) -> list[dict[str, float]]:
        return [dict(zip(self.names, map(float, row), strict=True)) for row in self.values]

    def save(self, path: Path) -> None:
        buf = io.BytesIO()
        np.savez_compressed(buf, names=np.array(self.names), values=self.values,
                            labels=self.labels.astype(np.uint8), groups=self.groups,
                            weights=self.weights.astype(np.float32))
        path.write_bytes(buf.getvalue())

    @classmethod
    def read(cls, data: bytes) -> TrainingRows:
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            return cls(tuple(str(n) for n in z["names"]), z["values"],
                       z["labels"].astype(np.float64), z["groups"].astype(np.int64),
                       z["weights"].astype(np.float64) if "weights" in z.files
                       else np.ones(len(z["labels"])))


def shipped_rows(name: str) -> TrainingRows:
    """The rows the packaged calibrator `name` was fitted on."""
    try:
        data = resources.files("screening.calibration_data").joinpath(
            f"{name}.rows.npz").read_bytes()
    except FileNotFoundError:
        raise ConfigurationError(
            f"calibrator {name!r} ships without its training rows, so it cannot be refitted "
            "from verdicts; run its benchmarks/fit_*_calibration.py to write them") from None
    return TrainingRows.read(data)
