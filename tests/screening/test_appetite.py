"""The limit structure and the plan's appetite: the expected loss never exceeds the aggregate
limit, no quote is offered above the plan's maximum rate on line, out-of-appetite applicants
are referred or declined with reasons, and the aggregate distribution's mean is the pure
premium."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from screening.errors import InvalidInputError
from screening.underwriting.applicant import load_applicant
from screening.underwriting.plan import load_plan
from screening.underwriting.pricing import SampleSummary, quote

PLAN = load_plan()
EXAMPLE = load_applicant(Path(__file__).resolve().parents[2] / "plans" /
                         "example-applicant.yaml")


def test_the_example_with_30_hits_in_300_is_referred_not_quoted() -> None:
    """Before: 876,616 yuan quoted for 700,000 of cover (rate on line 1.25)."""
    q = quote(PLAN, EXAMPLE, SampleSummary(300, 30.0), 700_000, 10_000)
    d = q.to_dict()
    assert d["decision"] == "refer" and d["premium"] is None
    assert any("rate on line" in r for r in d["reasons"])
    assert d["expected_loss"] <= 700_000
    assert d["indicated_premium"] > PLAN.appetite.max_rate_on_line * 700_000


def test_a_clean_sample_is_quoted_and_a_copying_one_declined() -> None:
    clean = quote(PLAN, EXAMPLE, SampleSummary(400, 1.0), 700_000, 10_000)
    assert clean.decision == "quote" and clean.reasons == []
    assert clean.to_dict()["premium"] == round(clean.premium, 2)
    bad = quote(PLAN, EXAMPLE, SampleSummary(1000, 300.0), 700_000, 10_000)
    assert bad.decision == "decline"
    assert "hit rate" in bad.reasons[0] and bad.to_dict()["premium"] is None


def test_aggregate_mean_is_the_pure_premium() -> None:
    """The compound distribution's mean equals the worksheet's expected loss before the
    aggregate-limit factor within 0.1% (issue 30's target)."""
    for hits, limit, ded in ((2.0, 700_000, 10_000), (12.0, 5_000_000, 0), (0.0, 100_000, 0)):
        q = quote(PLAN, EXAMPLE, SampleSummary(400, hits), limit, ded)
        uncapped = q.expected_loss / q.factors()["aggregate-limit factor"]
        assert q.aggregate["mean"] == pytest.approx(uncapped, rel=1e-3)
        assert q.aggregate["mean_capped"] == pytest.approx(q.expected_loss, rel=1e-6)


def test_aggregate_limit_is_checked_and_priced() -> None:
    with pytest.raises(InvalidInputError, match="aggregate limit"):
        quote(PLAN, EXAMPLE, SampleSummary(400, 2.0), 700_000, 0, aggregate_limit=500_000)
    one = quote(PLAN, EXAMPLE, SampleSummary(400, 8.0), 300_000, 0)
    two = quote(PLAN, EXAMPLE, SampleSummary(400, 8.0), 300_000, 0, aggregate_limit=900_000)
    assert two.expected_loss > one.expected_loss
    assert one.expected_loss <= 300_000 and two.expected_loss <= 900_000


@settings(max_examples=50, deadline=None)
@given(st.floats(0, 400), st.floats(1e3, 1e12), st.floats(50_000, 5e7), st.floats(1, 4))
def test_no_quote_above_the_maximum_rate_on_line(hits, volume, limit, agg) -> None:  # type: ignore[no-untyped-def]
    a = EXAMPLE.model_copy(update={"annual_outputs": volume})
    q = quote(PLAN, a, SampleSummary(400, hits), limit, 0, aggregate_limit=limit * agg)
    d = q.to_dict()
    assert q.expected_loss <= limit * agg * (1 + 1e-9)
    if d["decision"] == "quote":
        assert d["premium"] <= PLAN.appetite.max_rate_on_line * limit * agg + 0.01
    else:
        assert d["premium"] is None and d["reasons"]
