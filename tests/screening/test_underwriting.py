"""Risk profile, rating plan and quote: golden figures, a worked example checked step by step
against independent arithmetic, monotonicity properties, and bad input."""

from __future__ import annotations

import copy
import json
import math
import re
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate
from scipy.stats import lognorm

from screening.calibration import load_calibrator
from screening.errors import InvalidInputError
from screening.underwriting.applicant import Applicant, parse_applicant
from screening.underwriting.plan import default_plan_path, load_plan, parse_plan
from screening.underwriting.pricing import (
    SampleSummary,
    quote,
    reference_quote,
    solve_base_loss_cost,
)
from screening.underwriting.profile import build_profile, read_sample

PLAN = load_plan()
APPLICANT = Applicant(name="Worked example", annual_outputs=2_500_000,
                      jurisdictions={"CN": 0.7, "US": 0.2, "EU": 0.1},
                      controls=["pre_release_filter", "user_model_uploads"],
                      claims_history={"years": 2, "claims": 1})  # type: ignore[arg-type]
VERSIONS = {"kind": "text", "profile": "paraphrase", "features": ["a@1"],
            "calibration": "text@1", "index_revision": 7,
            "thresholds": {"block": 0.9, "review": 0.5, "report": 0.05}}


def result(i: int, score: float | None, category: str = "literary", run: int = 0,
           versions: dict | None = None) -> dict:
    matches = [] if score is None else [{
        "external_id": f"W-{i % 3}", "title": "t", "owner": f"O-{i % 2}", "category": category,
        "jurisdiction": "CN", "score": score, "longest_run_words": run, "spans": []}]
    return {"input": f"out-{i}.txt", "decision": "clear", "risk_score": score or 0.0,
            "matches": matches, "versions": versions or VERSIONS}


def test_reference_applicant_is_quoted_at_the_public_premium():
    q = reference_quote(PLAN)
    assert q.premium == pytest.approx(15_000, rel=0.01)
    assert q.limit == 700_000 and q.currency == "CNY"
    assert solve_base_loss_cost(PLAN) == pytest.approx(PLAN.base_loss_cost.value, rel=1e-3)


def lev(limit: float) -> float:
    """E[min(X, L)] = integral of the survival function, computed numerically (independent of
    the closed form used by the plan)."""
    dist = lognorm(s=1.5, scale=40_000)
    return integrate.quad(lambda x: dist.sf(x), 0, limit, limit=200)[0]


def test_worked_example_step_by_step():
    sample = SampleSummary(outputs=400, expected_hits=6.0,
                           severity_mix={"severe": 0.5, "major": 0.5, "minor": 0.0})
    q = quote(PLAN, APPLICANT, sample, limit=700_000, deductible=10_000)
    f = q.factors()
    assert f["exposure factor"] == 2.5  # 2.5M outputs: the 1M-10M band
    z = 400 / (400 + 200)
    post = (0.01 * 200 + 6) / (200 + 400)
    assert f["screening factor"] == pytest.approx(post / 0.01)
    blended = {"severe": z * 0.5 + (1 - z) * 0.2, "major": z * 0.5 + (1 - z) * 0.6,
               "minor": (1 - z) * 0.2}
    rel = {"severe": 1.6, "major": 1.0, "minor": 0.6}
    ref = 0.2 * 1.6 + 0.6 * 1.0 + 0.2 * 0.6
    assert f["category-mix factor"] == pytest.approx(
        sum(blended[c] * rel[c] for c in rel) / ref)
    assert f["jurisdiction factor"] == pytest.approx(0.7 * 1.0 + 0.2 * 3.0 + 0.1 * 1.5)
    assert f["increased-limit factor"] == pytest.approx(lev(700_000) / lev(100_000), rel=1e-5)
    assert f["deductible factor"] == pytest.approx(
        (lev(710_000) - lev(10_000)) / lev(700_000), rel=1e-5)
    assert f["schedule factor"] == pytest.approx(1 - 0.10 + 0.15)
    e = 2 * 0.2
    assert f["experience modification"] == pytest.approx(1 + e / (e + 10) * (1 / e - 1))
    loss = PLAN.base_loss_cost.value * math.prod(f[k] for k in (
        "exposure factor", "screening factor", "category-mix factor", "jurisdiction factor",
        "increased-limit factor", "deductible factor", "schedule factor",
        "experience modification", "aggregate-limit factor"))
    assert 0.9 < f["aggregate-limit factor"] <= 1.0
    assert q.premium == pytest.approx((loss + 1500) / (1 - 0.25 - 0.05), abs=0.01)
    values = [s.value for s in q.steps]
    assert values[-1] == pytest.approx(q.premium, abs=0.01)
    assert [s.name for s in q.steps][0] == "base loss cost"
    assert all(s.source for s in q.steps)


def premium(hits=2.0, outputs=300, volume=1e6, limit=500_000.0, deductible=5_000.0,
            severe=0.2, controls=()):
    a = APPLICANT.model_copy(update={"annual_outputs": volume, "controls": list(controls)})
    mix = {"severe": severe, "major": 1 - severe, "minor": 0.0}
    return quote(PLAN, a, SampleSummary(outputs, min(hits, outputs), mix), limit,
                 deductible).steps[-1].value


@settings(max_examples=60, deadline=None)
@given(st.floats(0, 50), st.floats(0, 50))
def test_premium_never_falls_as_the_hit_rate_rises(h1, h2):
    lo, hi = sorted((h1, h2))
    assert premium(hits=lo) <= premium(hits=hi) + 1e-9


@settings(max_examples=60, deadline=None)
@given(st.floats(1, 1e12), st.floats(1, 1e12))
def test_premium_never_falls_as_volume_rises(v1, v2):
    lo, hi = sorted((v1, v2))
    assert premium(volume=lo) <= premium(volume=hi) + 1e-9


@settings(max_examples=60, deadline=None)
@given(st.floats(20_000, 1e9), st.floats(20_000, 1e9), st.floats(0, 10_000))
def test_premium_rises_with_limit_and_falls_with_deductible(l1, l2, d):
    lo, hi = sorted((l1, l2))
    assert premium(limit=lo, deductible=d) <= premium(limit=hi, deductible=d) + 1e-9
    assert premium(limit=lo, deductible=d) >= premium(limit=lo, deductible=d + 5_000) - 1e-9


@settings(max_examples=60, deadline=None)
@given(st.floats(0, 1), st.floats(0, 1))
def test_premium_never_falls_as_severe_share_rises(s1, s2):
    lo, hi = sorted((s1, s2))
    assert premium(severe=lo) <= premium(severe=hi) + 1e-9


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(sorted(PLAN.schedule.items)), unique=True))
def test_schedule_factor_stays_inside_its_cap(controls):
    a = APPLICANT.model_copy(update={"controls": controls})
    f = quote(PLAN, a, SampleSummary(100, 0.0), 700_000, 0).factors()["schedule factor"]
    assert 1 - PLAN.schedule.cap - 1e-12 <= f <= 1 + PLAN.schedule.cap + 1e-12


def test_profile_posterior_credibility_and_small_sample_warning():
    results = [result(i, None) for i in range(50)]
    p = build_profile(results, PLAN)
    assert p.credibility == pytest.approx(50 / 250)
    assert p.posterior_mean == pytest.approx(2 / 250)
    assert p.sample_interval_90[1] == pytest.approx(3 / 50, rel=0.1)  # zero hits: ~3/n
    assert p.posterior_interval_90[0] < p.posterior_mean < p.posterior_interval_90[1]
    assert p.warnings and "too small" in p.warnings[0]
    results = [result(i, 0.95 if i < 5 else None, "character" if i < 3 else "news")
               for i in range(400)]
    p = build_profile(results, PLAN)
    assert not p.warnings and p.levels["high"] == 5
    assert p.expected_hits == pytest.approx(4.75)
    assert p.severity_mix["severe"] == pytest.approx(0.6)
    assert p.distinct_works == 3 and p.distinct_owners == 2
    assert p.top[0].probability == 0.95


def test_long_literal_copies_are_severe_whatever_the_category():
    p = build_profile([result(0, 0.99, "news", run=80)] + [result(i, None) for i in range(99)],
                      PLAN)
    assert p.severity_mix["severe"] == 1.0


def test_bad_inputs_are_clear_errors(tmp_path):
    with pytest.raises(InvalidInputError, match="limit must be positive"):
        quote(PLAN, APPLICANT, SampleSummary(10, 0), -5, 0)
    with pytest.raises(InvalidInputError, match="limit must be positive"):
        quote(PLAN, APPLICANT, SampleSummary(10, 0), 1e15, 0)
    with pytest.raises(InvalidInputError, match="deductible"):
        quote(PLAN, APPLICANT, SampleSummary(10, 0), 1000, 1000)
    with pytest.raises(InvalidInputError, match="currency"):
        quote(PLAN, APPLICANT, SampleSummary(10, 0), 1000, 0, "XYZ")
    with pytest.raises(InvalidInputError, match="unknown control"):
        quote(PLAN, APPLICANT.model_copy(update={"controls": ["magic"]}),
              SampleSummary(10, 0), 1000, 0)
    with pytest.raises(InvalidInputError, match="empty sample"):
        build_profile([], PLAN)
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    with pytest.raises(InvalidInputError, match="empty sample"):
        read_sample(empty)
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(result(0, None)) + "\n{oops\n")
    with pytest.raises(InvalidInputError, match="line 2: not JSON"):
        read_sample(bad)
    bad.write_text(json.dumps(result(0, 1.5)) + "\n")
    with pytest.raises(InvalidInputError, match=r"score in \[0, 1\]"):
        read_sample(bad)
    other = dict(VERSIONS, calibration="text@2")
    with pytest.raises(InvalidInputError, match="mixes screening versions"):
        build_profile([result(0, None), result(1, None, versions=other)], PLAN)
    with pytest.raises(InvalidInputError, match="index revision 7, not the stated 8"):
        build_profile([result(0, None)], PLAN, index_revision=8)
    with pytest.raises(InvalidInputError, match="sum to 1"):
        parse_applicant({"name": "x", "annual_outputs": 1, "jurisdictions": {"CN": 0.5}})
    with pytest.raises(InvalidInputError, match="annual_outputs"):
        parse_applicant({"name": "x", "annual_outputs": -1, "jurisdictions": {"CN": 1}})
    # claims counted over no years were read as "no history" and dropped
    with pytest.raises(InvalidInputError, match="5 claims over 0 years"):
        parse_applicant({"name": "x", "annual_outputs": 1, "jurisdictions": {"CN": 1},
                         "claims_history": {"claims": 5, "years": 0}})
    # a mix the plan cannot rate was priced as the reference mix, without a word
    with pytest.raises(InvalidInputError, match="unknown severity class 'nuclear'"):
        SampleSummary(10, 1, {"nuclear": 1.0})
    with pytest.raises(InvalidInputError, match="finite and >= 0"):
        SampleSummary(10, 1, {"severe": -1.0, "major": 2.0})
    with pytest.raises(InvalidInputError, match="sum to 1"):
        SampleSummary(10, 1, {"severe": 0.5, "major": 0.2})
    assert SampleSummary(10, 1, {"severe": 0.333333, "major": 0.333333, "minor": 0.333333})


def test_a_jurisdiction_the_plan_does_not_list_is_rated_as_other_and_says_so():
    app = APPLICANT.model_copy(update={"jurisdictions": {"XX": 0.5, "CN": 0.5}})
    q = quote(PLAN, app, SampleSummary(10, 0), 100_000, 0)
    step = next(s for s in q.steps if s.name == "jurisdiction factor")
    assert "XX 50% (rated as OTHER)" in step.input and "CN 50%," in step.input + ","
    assert math.isclose(step.factor or 0, 0.5 * PLAN.jurisdiction.of("OTHER")
                        + 0.5 * PLAN.jurisdiction.of("CN"))


def plan_variant(change) -> bytes:  # type: ignore[no-untyped-def]
    raw = yaml.safe_load(default_plan_path().read_bytes())
    change(raw)
    return yaml.safe_dump(raw).encode()


def test_plan_validation_refuses_unknown_fields_and_bad_tables():
    def typo(r):  # type: ignore[no-untyped-def]
        r["expenses"]["varible"] = 0.3

    with pytest.raises(InvalidInputError, match="expenses.varible"):
        parse_plan(plan_variant(typo))

    def version(r):  # type: ignore[no-untyped-def]
        r["version"] = "v1"

    with pytest.raises(InvalidInputError, match="semantic"):
        parse_plan(plan_variant(version))

    def bands(r):  # type: ignore[no-untyped-def]
        r["exposure"]["bands"][1]["factor"] = 0.5

    with pytest.raises(InvalidInputError, match="must not decrease"):
        parse_plan(plan_variant(bands))

    def nosource(r):  # type: ignore[no-untyped-def]
        del r["jurisdiction"]["source"]

    with pytest.raises(InvalidInputError, match="jurisdiction.source"):
        parse_plan(plan_variant(nosource))
    with pytest.raises(InvalidInputError, match="YAML"):
        parse_plan(b"plan_id: [unclosed")


def test_plan_hash_identifies_the_numbers():
    same = parse_plan(default_plan_path().read_bytes())
    assert same.sha256 == PLAN.sha256 and len(PLAN.sha256) == 64

    def bump(r):  # type: ignore[no-untyped-def]
        r["expenses"]["fixed"] = 1600

    changed = parse_plan(plan_variant(bump))
    assert changed.sha256 != PLAN.sha256
    assert reference_quote(changed).premium > reference_quote(PLAN).premium


@pytest.mark.parametrize("name", ["image-accurate", "image-accurate-bg", "image-fast",
                                  "image-fast-bg", "image-hash", "text"])
def test_calibrators_feeding_the_profile_are_calibrated(name):
    """The held-out expected calibration error measured when each calibrator was fitted
    (two-fold cross-fitting on its calibration split) meets the <= 0.05 bar."""
    fit = load_calibrator(name).fit
    assert fit["heldout_ece"] <= 0.05 and fit["pairs"] > 1000


def test_cli_quote_is_byte_for_byte_repeatable_and_report_is_self_contained(cli, tmp_path):
    sample = tmp_path / "sample.jsonl"
    sample.write_text("".join(json.dumps(result(i, 0.97 if i % 40 == 0 else None,
                                                "character")) + "\n" for i in range(200)))
    applicant = Path(__file__).resolve().parents[2] / "plans" / "example-applicant.yaml"
    args = ["underwrite", sample, "--applicant", applicant, "--limit", "700000",
            "--deductible", "10000", "--json"]
    a, b = cli(*args), cli(*args)
    assert a.code == 0, a.err
    assert a.out == b.out
    q = json.loads(a.out)
    assert q["plan"]["sha256"] == PLAN.sha256 and q["screening_versions"] == [VERSIONS]
    assert [s["name"] for s in q["worksheet"]][-1] == "variable expense and profit"
    report = tmp_path / "r.html"
    r = cli(*args[:-1], "--report", report, "--currency", "USD")
    assert r.code == 0, r.err
    page = report.read_text()
    # charts inline, nothing fetched when the page is opened (XML namespaces are only names)
    # scores, mix, waterfall, annual loss exceedance
    assert page.count("<svg") == 4 and "<script" not in page and "<link" not in page
    assert not re.search(r"""(?:src|href)=["']https?:""", page)
    assert "Premium" in page and "USD" in page
    r = cli("underwrite", sample, "--applicant", applicant, "--limit", "-1")
    assert r.code == 2 and "limit must be positive" in r.err
    r = cli("underwrite", tmp_path / "none.jsonl", "--applicant", applicant, "--limit", "10")
    assert r.code == 2 and "no such sample" in r.err
    # a report path that cannot be written is refused before any work, with the reason
    # (these were OSError tracebacks after the quote had been computed)
    (tmp_path / "folder").mkdir()
    for bad, says in [(tmp_path / "folder", "it is a folder"),
                      (tmp_path / "nope" / "r.html", f"no folder {tmp_path / 'nope'}"),
                      (Path("/dev/null"), "it is not a regular file")]:
        r = cli(*args[:-1], "--report", bad)
        assert r.code == 2 and f"cannot write the report to {bad}: {says}" in r.err, r.err
        assert "Traceback" not in r.err and r.out == ""
    assert list((tmp_path / "folder").iterdir()) == []


def test_plan_check_command(cli, tmp_path):
    r = cli("plan", "check")
    assert r.code == 0 and json.loads(r.out)["relative_error"] == pytest.approx(0, abs=0.01)
    off = tmp_path / "off.yaml"
    raw = yaml.safe_load(default_plan_path().read_bytes())
    raw = copy.deepcopy(raw)
    raw["base_loss_cost"]["value"] = 20000
    off.write_text(yaml.safe_dump(raw))
    r = cli("plan", "check", off)
    assert r.code == 2 and "more than 1%" in r.err


def test_non_finite_numbers_in_pricing_inputs_are_refused_naming_the_field(cli, tmp_path):
    """A `.nan` share in the applicant YAML passed the >= 0 and sum-to-1 checks (NaN compares
    false) and the CLI printed `"premium": NaN`, which is not JSON, with exit 0."""
    sample = tmp_path / "sample.jsonl"
    sample.write_text("".join(json.dumps(result(i, 0.97 if i % 40 == 0 else None)) + "\n"
                              for i in range(80)))
    for field, text in [("jurisdictions.CN", "jurisdictions: {CN: .nan, US: 1.0}"),
                        ("annual_outputs", "jurisdictions: {CN: 1.0}\nannual_outputs: .inf")]:
        applicant = tmp_path / "applicant.yaml"
        lines = ["name: Probe", "annual_outputs: 1000"] if "annual" not in text else \
            ["name: Probe"]
        applicant.write_text("\n".join([*lines, text]) + "\n")
        r = cli("underwrite", sample, "--applicant", applicant, "--limit", "700000", "--json")
        assert r.code == 2 and field in r.err and "finite" in r.err, r.err
        assert r.out == "" and "Traceback" not in r.err
    good = Path(__file__).resolve().parents[2] / "plans" / "example-applicant.yaml"
    for option, value in [("--limit", "nan"), ("--deductible", "nan"), ("--limit", "inf")]:
        args = ["--limit", "700000", option, value] if option != "--limit" else \
            ["--limit", value]
        r = cli("underwrite", sample, "--applicant", good, *args, "--json")
        assert r.code == 2 and r.out == "", (option, value, r.err)
    nan_sample = tmp_path / "nan.jsonl"
    nan_sample.write_text(json.dumps(result(0, 0.9)).replace("0.9,", "NaN,", 1) + "\n")
    r = cli("underwrite", nan_sample, "--applicant", good, "--limit", "700000")
    assert r.code == 2 and "line 1" in r.err and "finite" in r.err, r.err
    with pytest.raises(InvalidInputError, match="expenses.fixed"):
        parse_plan(plan_variant(lambda raw: raw["expenses"].update(fixed=float("nan"))))
