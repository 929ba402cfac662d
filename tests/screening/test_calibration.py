"""Calibration: the fitter recovers known models, ECE behaves, packaged calibrators load and
are monotone in the evidence, decisions are monotone in the score."""

from __future__ import annotations

import json
from importlib import resources

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from screening.calibration import (
    LogisticCalibrator,
    expected_calibration_error,
    feature_matrix,
    fit_logistic,
    load_calibrator,
)
from screening.decision import Thresholds, decide
from screening.errors import ConfigurationError

NAMES = ["image-accurate", "image-accurate-bg", "image-fast", "image-fast-bg", "image-hash"]


def test_fit_recovers_known_coefficients():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(20_000, 2))
    p = 1 / (1 + np.exp(-(1.5 * x[:, 0] - 2.0 * x[:, 1] + 0.5)))
    y = (rng.random(len(p)) < p).astype(float)
    coef, b = fit_logistic(x, y, l2=0.0)
    assert coef == pytest.approx([1.5, -2.0], abs=0.1) and b == pytest.approx(0.5, abs=0.1)


def test_ece_small_when_calibrated_and_large_when_not():
    rng = np.random.default_rng(1)
    p = rng.random(50_000)
    y = (rng.random(len(p)) < p).astype(float)
    assert expected_calibration_error(p, y) < 0.01
    assert expected_calibration_error(np.clip(p + 0.3, 0, 1), y) > 0.15


def test_hinge_features():
    m = feature_matrix(["sscd", "sscd>0.6"], [{"sscd": 0.8}, {"sscd": 0.1}])
    assert m[0, 0] == 0.8 and m[1, 0] == 0.1
    assert m[0, 1] == pytest.approx(0.2)
    assert m[1, 1] == 0.0


@pytest.mark.parametrize("name", NAMES)
def test_packaged_calibrators_are_fitted_and_monotone(name):
    cal = load_calibrator(name)
    assert cal.version != "bootstrap" and cal.fit["heldout_ece"] < 0.05
    bases = sorted({f.partition(">")[0] for f in cal.features})
    low = {b: 0.1 for b in bases}
    high = {b: 0.95 for b in bases}
    assert cal.probability(high) > 0.9 > 0.1 > cal.probability(low)
    for b in bases:  # raising any one signal never lowers the probability
        ps = [cal.probability({**low, b: v}) for v in np.linspace(0, 1, 21)]
        assert all(q >= p - 1e-9 for p, q in zip(ps, ps[1:], strict=False)), b


def test_calibrator_round_trip_and_bad_file():
    cal = load_calibrator("image-hash")
    again = LogisticCalibrator.from_dict(json.loads(cal.to_json()))
    assert again == cal
    with pytest.raises(ConfigurationError):
        LogisticCalibrator.from_dict({"name": "x", "features": ["a"], "coef": []})
    with pytest.raises(ConfigurationError, match="no calibration"):
        load_calibrator("image-nonexistent")
    assert resources.files("screening.calibration_data").joinpath("image-hash.json").is_file()


@given(st.floats(0, 1), st.floats(0, 1))
def test_decision_is_monotone_in_risk(a, b):
    order = {"clear": 0, "review": 1, "block": 2}
    t = Thresholds()
    lo, hi = sorted((a, b))
    assert order[decide(lo, t)] <= order[decide(hi, t)]


def test_monotone_fit_has_no_negative_coefficients():
    from screening.calibration import fit_monotone_logistic

    rng = np.random.default_rng(2)
    x = rng.normal(size=(5000, 3))
    y = (rng.random(5000) < 1 / (1 + np.exp(-(2 * x[:, 0] - 1 * x[:, 1])))).astype(float)
    coef, _ = fit_monotone_logistic(x, y)
    assert coef.min() >= 0 and coef[0] > 1 and coef[1] == 0


@pytest.mark.parametrize("name", NAMES)
def test_batch_probabilities_equal_single(name):
    cal = load_calibrator(name)
    rng = np.random.default_rng(3)
    bases = sorted({f.partition(">")[0] for f in cal.features})
    rows = [{b: float(v) for b, v in zip(bases, rng.random(len(bases)), strict=True)}
            for _ in range(50)]
    assert np.allclose(cal.probabilities_of(rows), [cal.probability(r) for r in rows])
    assert cal.probabilities_of([]).shape == (0,)
