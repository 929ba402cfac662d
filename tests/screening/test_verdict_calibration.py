"""Calibration from verdicts: the shipped training rows reproduce the packaged calibrators,
a refit moves only with enough verdicts and in their direction, versions re-score results
(another rule's decision standing), and roll back."""

from __future__ import annotations

import numpy as np
import pytest

from screening.calibration import feature_matrix, fit_monotone_logistic, load_calibrator
from screening.calibration.rows import TrainingRows, shipped_rows
from screening.calibration.verdicts import REFIT_L2, VerdictRows, refit, usable
from screening.calibration.versions import ActiveCalibrations
from screening.decision import Thresholds
from screening.errors import InvalidInputError
from screening.underwriting.profile import check_versions

NAMES = ["image-accurate", "image-accurate-bg", "image-fast", "image-fast-bg", "image-hash",
         "text", "text-use-multilingual", "text-use-multilingual-en"]


def test_rows_round_trip_and_thinning_keeps_the_weight(tmp_path) -> None:
    sig = [{"a": 0.1 * i, "b": 1.0 - 0.1 * i} for i in range(10)]
    rows = TrainingRows.from_signals(sig, [1.0] * 2 + [0.0] * 8, list(range(10)))
    easy = rows.labels == 0
    thin = rows.thinned(easy, 0.5, seed=1)
    path = tmp_path / "r.rows.npz"
    thin.save(path)
    back = TrainingRows.read(path.read_bytes())
    assert back.names == ("a", "b") and len(back) == len(thin)
    assert back.labels.sum() == 2  # every positive kept, at weight 1
    assert set(back.weights[back.labels == 0].tolist()) == {2.0}
    assert back.signals()[0] == pytest.approx(sig[0])


@pytest.mark.parametrize("name", NAMES)
def test_shipped_rows_refit_to_the_packaged_calibrator(name: str) -> None:
    """The rows beside each calibrator are what it was fitted on: the same weighted fit on
    them gives back (nearly) the packaged probabilities."""
    cal, rows = load_calibrator(name), shipped_rows(name)
    assert {f.partition(">")[0] for f in cal.features} <= set(rows.names)
    x = feature_matrix(cal.features, rows.signals())
    coef, b = fit_monotone_logistic(x, rows.labels, REFIT_L2, weights=rows.weights)
    gap = np.abs(1 / (1 + np.exp(-(x @ coef + b))) - cal.probabilities(x))
    # measured: image calibrators within 0.01-0.023 (thinning); the text rows are today's
    # signals on the calibrator's data, which moved a little since its fit (16,055 pairs
    # then 16,070): 14 pairs differ by more than 0.05, at most 0.125
    bound = 0.15 if name == "text" else 0.05
    assert np.average(gap, weights=rows.weights) < 1e-3 and gap.max() < bound


def verdicts_from(rows: TrainingRows, pick: np.ndarray, label: float) -> list[dict]:
    return [{"case": int(i), "verdict": "infringing" if label else "not_infringing",
             "signals": {"similarity_kind": "copy", "signals": rows.signals()[i]}}
            for i in np.flatnonzero(pick)]


def test_refit_follows_verdicts_and_waits_for_enough() -> None:
    name = "image-accurate-bg"
    cal, rows = load_calibrator(name), shipped_rows(name)
    p = cal.probabilities_of(rows.signals())
    # reviewers say the copies the calibrator doubts (0.05 <= p < 0.5) are copies, and
    # confirm a like number of its clear negatives
    doubted = (rows.labels == 1) & (p >= 0.05) & (p < 0.5)
    assert doubted.sum() >= 10
    rng = np.random.default_rng(0)
    negatives = np.zeros(len(p), dtype=bool)
    negatives[rng.choice(np.flatnonzero((rows.labels == 0) & (p < 0.05)),
                         int(doubted.sum()), replace=False)] = True
    verdicts = verdicts_from(rows, doubted, 1.0) + verdicts_from(rows, negatives, 0.0)
    got = usable(verdicts, cal.features)
    assert len(got.labels) == len(verdicts)
    few = VerdictRows(got.signals[:3], got.labels[:3], got.cases[:3])
    none, report = refit(cal, rows, few, 0.5, min_verdicts=20)
    assert none is None and report["changed"] is False and "at least 20" in report["reason"]
    new, report = refit(cal, rows, got, 0.5, weight=20, min_verdicts=20)
    assert new is not None and new.version.startswith(cal.version + "+verdicts")
    assert report["weight"] == 20 and len(report["tried"]) == 1
    assert report["after"]["verdicts"]["recall"] > report["before"]["verdicts"]["recall"]
    # the shipped rows' own false flags stay small: the verdicts did not wreck the model
    assert report["after"]["shipped"]["false_flags"] < 0.01


def test_auto_weight_keeps_the_guard_on_shipped_distractors() -> None:
    """Without a weight, each of WEIGHTS is measured and the one kept flags no more of the
    shipped distractor queries than the calibrator in force."""
    name = "image-accurate-bg"
    cal, rows = load_calibrator(name), shipped_rows(name)
    p = cal.probabilities_of(rows.signals())
    doubted = (rows.labels == 1) & (p >= 0.05) & (p < 0.5)
    rng = np.random.default_rng(1)
    negatives = np.zeros(len(p), dtype=bool)
    negatives[rng.choice(np.flatnonzero((rows.labels == 0) & (p < 0.05)),
                         int(doubted.sum()), replace=False)] = True
    got = usable(verdicts_from(rows, doubted, 1.0) + verdicts_from(rows, negatives, 0.0),
                 cal.features)
    new, report = refit(cal, rows, got, 0.5, min_verdicts=20)
    assert [t["weight"] for t in report["tried"]] == [1.0, 2.0, 5.0, 10.0, 20.0]
    guard = report["before"]["shipped_queries"]["flagged"]
    if new is None:
        assert all(t["shipped_queries"]["flagged"] > guard for t in report["tried"])
    else:
        assert report["after"]["shipped_queries"]["flagged"] <= guard
        kept = [t for t in report["tried"] if t["shipped_queries"]["flagged"] <= guard]
        assert report["after"]["verdict_log_loss"] == min(t["verdict_log_loss"] for t in kept)


def test_unsure_derivative_and_incomplete_verdicts_are_not_used() -> None:
    cal = load_calibrator("image-hash")
    full = {k: 0.5 for k in ("hash", "phash", "pdq")}
    verdicts = [
        {"case": 1, "verdict": "unsure", "signals": {"signals": full}},
        {"case": 2, "verdict": "infringing",
         "signals": {"similarity_kind": "derivative", "signals": full}},
        {"case": 3, "verdict": "infringing", "signals": {"signals": {"hash": 0.9}}},
        {"case": 4, "verdict": "licensed", "signals": {"signals": full}},
        {"case": 5, "verdict": "infringing", "signals": {"signals": full}},
        {"case": 5, "verdict": "not_infringing", "signals": {"signals": full}},  # latest
    ]
    got = usable(verdicts, cal.features)
    assert got.cases.tolist() == [4, 5] and got.labels.tolist() == [1.0, 0.0]


def test_versions_rescore_results_and_other_rules_stand() -> None:
    base = load_calibrator("image-hash")
    raised = type(base)(base.name, base.version + "+verdicts9", base.features,
                        base.coef, base.intercept + 8.0, {})
    active = ActiveCalibrations({("image-hash", "acme"): raised})
    t = Thresholds()
    weak = {"hash": 0.6, "phash": 0.6, "pdq": 0.6}
    result = {"input": "x.png", "decision": "review", "risk_score": 0.7, "versions": {
        "kind": "image", "calibration": f"image-hash@{base.version}"}, "matches": [
        {"external_id": "A", "score": base.probability(weak), "signals": weak,
         "decision": "clear", "similarity_kind": "copy"},
        {"external_id": "B", "score": 0.0, "signals": {"hash": 0.0, "phash": 0.0, "pdq": 0.0},
         "derivative_score": 0.7, "decision": "review", "similarity_kind": "derivative"}]}
    assert active.apply(result, "globex", t) is result  # no version for this tenant
    seen = active.apply(result, "acme", t)
    assert seen["versions"]["calibration"] == f"image-hash@{raised.version}"
    assert seen["versions"]["calibration_scope"] == "tenant"
    a = next(m for m in seen["matches"] if m["external_id"] == "A")
    assert a["score"] > result["matches"][0]["score"]
    b = next(m for m in seen["matches"] if m["external_id"] == "B")
    assert b["decision"] == "review"  # the derivative rule's decision stands
    assert seen["risk_score"] == max(a["score"], 0.7)


def test_a_language_pair_of_calibrators_is_one_configuration_before_and_after_a_refit(
        ) -> None:
    """The multilingual model's English and Chinese results name different calibrators but
    one calibration set: a sample of both is not refused as a mix, also once a tenant's
    refit of one of them is in force; a sample under another set is."""
    en, zh = load_calibrator("text-use-multilingual-en"), load_calibrator("text-use-multilingual")
    both = sorted(f"{c.name}@{c.version}" for c in (en, zh))
    sig = {"run": 1.0, "matched": 0.5, "passage": 0.5, "near_similarity": 0.0,
           "para_windows": 0.0, "para_mean": 0.0, "para_max": 0.0, "para_margin": 0.0}

    def result(cal, name):  # type: ignore[no-untyped-def]
        return {"input": name, "decision": "clear", "risk_score": 0.1, "versions": {
            "kind": "text", "profile": "paraphrase", "calibration": f"{cal.name}@{cal.version}",
            "calibration_set": both}, "matches": [
            {"external_id": "W", "score": cal.probability(sig), "signals": sig,
             "decision": "clear", "similarity_kind": "copy"}]}

    sample = [result(en, "en.txt"), result(zh, "zh.txt")]
    assert len(check_versions(sample, None)) == 1
    refitted = type(en)(en.name, en.version + "+verdicts3", en.features, en.coef,
                        en.intercept + 1.0, {})
    active = ActiveCalibrations({(en.name, "acme"): refitted})
    seen = [active.apply(r, "acme", Thresholds()) for r in sample]
    assert seen[0]["versions"]["calibration"] == f"{en.name}@{refitted.version}"
    assert seen[1]["versions"]["calibration"] == f"{zh.name}@{zh.version}"
    assert seen[0]["versions"]["calibration_set"] == seen[1]["versions"]["calibration_set"] \
        == sorted([f"{en.name}@{refitted.version}", f"{zh.name}@{zh.version}"])
    assert len(check_versions(seen, None)) == 1
    with pytest.raises(InvalidInputError, match="mixes screening versions"):
        check_versions([seen[0], sample[1]], None)
