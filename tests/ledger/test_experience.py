"""Experience rating: credibility's properties (hypothesis), the severity fit on simulated
truncated and censored claims, and a plan update that is the identity without claims and
moves toward the data with them."""

from __future__ import annotations

import math
from datetime import date

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from screening.ledger.experience import buhlmann_straub, experience, fit_lognormal
from screening.ledger.update import update_plan
from screening.underwriting.plan import load_plan

PLAN = load_plan()
AS_OF = date(2028, 1, 1)


def book(n: int, claims_per_policy: list[int], amount: float = 50_000.0,
         juris: str = "CN") -> list[dict]:
    """n one-year policies of 2027, each expecting 0.5 claims and 25,000 of loss."""
    out = []
    for i in range(n):
        k = claims_per_policy[i % len(claims_per_policy)]
        out.append({
            "policy_no": f"P-{i}", "limit": 700_000.0, "aggregate_limit": 700_000.0,
            "deductible": 10_000.0, "premium": 40_000.0, "period_start": "2027-01-01",
            "period_end": "2027-12-31",
            "summary": {"jurisdictions": {juris: 1.0}, "controls": [], "hit_rate": 0.01,
                        "severity_mix": {"severe": 0.2, "major": 0.6, "minor": 0.2},
                        "expected_claims": 0.5, "expected_loss": 25_000.0},
            "claims": [{"incurred": amount * (0.5 + (i * 7 + j * 3) % 10 / 5),
                        "reported_date": "2027-06-01", "category": "artwork"}
                       for j in range(k)]})
    return out


def test_no_claims_no_change() -> None:
    for ledger in ([], book(20, [0])):
        exp = experience(ledger, PLAN, AS_OF)
        new, changes, text = update_plan(PLAN, exp, AS_OF)
        assert new is PLAN and changes == [] and text == ""


def test_update_moves_toward_the_data_and_sources_every_change() -> None:
    exp = experience(book(400, [1, 2, 0, 1]), PLAN, AS_OF)  # 1.0 claims on 0.5 expected
    assert exp.claims == 400 and exp.expected_claims == pytest.approx(200)
    (cn,) = exp.segments["jurisdiction"]  # observed frequency and severity per segment
    assert cn.to_dict()["actual_to_expected"] == 2.0
    assert cn.to_dict()["average_severity"] == pytest.approx(exp.loss / 400)
    new, changes, _ = update_plan(PLAN, exp, AS_OF)
    assert new.version == "1.2.0" and not new.reference_applicant.pinned
    base = next(c for c in changes if c["field"] == "base_loss_cost.value")
    # twice the claims expected (credibility 200/210), on the basis of the refitted
    # severity's share above the deductible
    assert exp.frequency_credibility == pytest.approx(200 / 210)
    assert 1.5 < exp.frequency_factor < 2.5
    assert base["to"] > base["from"] and "credibility" in base["source"]
    assert all(c["source"] for c in changes)
    assert new.base_loss_cost.value == base["to"]


def test_severity_fit_recovers_a_lognormal_under_deductible_and_limit() -> None:
    rng = np.random.default_rng(5)
    mu, sigma, d, lim = math.log(40_000), 1.5, 10_000.0, 300_000.0
    x = rng.lognormal(mu, sigma, 20_000)
    x = x[x > d][:3000]
    amounts = [(min(v, d + lim), d, v >= d + lim) for v in x]
    fitted = fit_lognormal(amounts)
    assert fitted is not None
    assert fitted[0] == pytest.approx(mu, abs=0.12) and fitted[1] == pytest.approx(sigma,
                                                                                   abs=0.08)
    assert fit_lognormal(amounts[:1]) is None


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(st.floats(0.01, 500), st.integers(0, 400)), min_size=1,
                max_size=8))
def test_credibility_is_in_0_1_and_rises_with_exposure(groups) -> None:  # type: ignore[no-untyped-def]
    segs, k = buhlmann_straub({f"g{i}": g for i, g in enumerate(groups)})
    assert all(0.0 <= s.credibility <= 1.0 for s in segs)
    if k is not None:
        ordered = sorted(segs, key=lambda s: s.expected)
        creds = [s.credibility for s in ordered]
        assert creds == sorted(creds)


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 300), st.integers(0, 300), st.integers(1, 60))
def test_more_claims_never_lower_the_experience_factor(n1, n2, policies) -> None:  # type: ignore[no-untyped-def]
    lo, hi = sorted((n1, n2))

    def factor(n: int) -> float:
        claims = [n // policies + (1 if i < n % policies else 0) for i in range(policies)]
        return experience(book(policies, claims), PLAN, AS_OF).frequency_factor

    assert factor(lo) <= factor(hi) + 1e-12


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 200), st.integers(0, 200), st.integers(0, 200))
def test_a_segment_with_more_claims_never_gets_a_lower_relativity(a, b, other) -> None:  # type: ignore[no-untyped-def]
    lo, hi = sorted((a, b))

    def rel(n: int) -> float:
        segs, _ = buhlmann_straub({"x": (50.0, n), "y": (80.0, other), "z": (30.0, 15)})
        return next(s.relativity for s in segs if s.name == "x")

    assert rel(lo) <= rel(hi) + 1e-9


def test_a_policy_priced_by_another_version_is_rerated_on_level() -> None:
    """Claims are compared with what the plan being updated expects of the policy, not
    with what an older version expected (that would count a correction twice)."""
    import json

    import yaml

    from screening.ledger.experience import on_level
    from screening.ledger.records import policy_from_quote
    from screening.underwriting.applicant import Applicant
    from screening.underwriting.plan import default_plan_path, parse_plan
    from screening.underwriting.pricing import SampleSummary, quote

    who = Applicant(name="x", annual_outputs=2e5, jurisdictions={"CN": 1.0},
                    controls=["pre_release_filter"])  # type: ignore[arg-type]
    q = json.loads(quote(PLAN, who, SampleSummary(300, 3.0), 700_000, 10_000).to_json())
    p = policy_from_quote(q, "P", date(2027, 1, 1))
    assert p.summary.outputs == 300 and p.summary.expected_hits == 3.0
    row = {"plan": {"sha256": p.plan_sha256}, "summary": p.summary.model_dump(),
           "applicant": p.applicant, "currency": p.currency, "limit": p.limit,
           "deductible": p.deductible, "aggregate_limit": p.limit}
    assert on_level(row, PLAN) == (p.summary.expected_claims, p.summary.expected_loss)
    raw = yaml.safe_load(default_plan_path().read_bytes())
    raw["base_loss_cost"]["value"] *= 2
    doubled = parse_plan(yaml.safe_dump(raw).encode(), "doubled")
    claims, _ = on_level(row, doubled)
    assert claims == pytest.approx(2 * p.summary.expected_claims, rel=1e-4)
