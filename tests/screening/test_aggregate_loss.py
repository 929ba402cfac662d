"""The aggregate loss distribution: discretisation against the plan's closed-form severity,
Panjer against FFT, both against a million simulated years, properties, and the portfolio's
common-shock model against its own promises (marginals kept, dependence only adds risk)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import norm

from screening.errors import InvalidInputError
from screening.underwriting.aggregate import (
    AggregateLoss,
    cap_pmf,
    compound_poisson,
    layer_severity,
)
from screening.underwriting.plan import Severity
from screening.underwriting.portfolio import (
    Policy,
    SharedGroup,
    compare_portfolio,
    groups_from_shares,
    independent_portfolio,
    shared_shares,
    simulate_portfolio,
)

# (lam, median, sigma, deductible, limit, aggregate limit): the plan's curve with a typical
# layer, no deductible, a large sigma, many small claims, a policy that rarely claims, and
# one with so many claims that P(S = 0) underflows.
POLICIES = [
    (2.0, 40_000, 1.5, 10_000, 1e6, 1.5e6),
    (0.3, 40_000, 0.5, 0, 2e5, 4e5),
    (0.05, 40_000, 4.0, 0, 1e8, 1e8),
    (25.0, 1_000, 2.5, 500, 1e6, 5e6),
    (1e-5, 40_000, 1.5, 0, 1e9, 2e9),
    (3000.0, 1_000, 1.0, 0, 1e5, 1e7),
]


def layer_mean(median: float, sigma: float, deductible: float, limit: float) -> float:
    sev = Severity(median=median, sigma=sigma, basic_limit=limit, source="test curve")
    return sev.lev(deductible + limit) - sev.lev(deductible)


def survival(median: float, sigma: float, x: float) -> float:
    return float(norm.sf((math.log(x) - math.log(median)) / sigma))


@pytest.mark.parametrize(("median", "sigma", "deductible", "limit", "steps"), [
    (40_000, 1.5, 10_000, 1e6, 400), (40_000, 1.5, 0, 1e5, 7), (2_000, 4.0, 50, 1e8, 5000),
    (40_000, 0.2, 30_000, 20_000, 64),
])
def test_layer_severity_keeps_the_mean_and_puts_the_limit_atom_on_the_limit(
        median: float, sigma: float, deductible: float, limit: float, steps: int) -> None:
    h = limit / steps
    f = layer_severity(median, sigma, deductible, limit, h, steps + 50)
    assert f.min() >= 0 and f.sum() == pytest.approx(1, abs=1e-12)
    assert not f[steps + 1:].any()
    mean = float(np.dot(np.arange(f.size) * h, f))
    assert mean == pytest.approx(layer_mean(median, sigma, deductible, limit), rel=1e-6)
    # The atom P(X >= D + L) sits whole on L, plus a share of the last interval's mass.
    atom = survival(median, sigma, deductible + limit)
    last = survival(median, sigma, deductible + limit - h) - atom
    assert atom - 1e-12 <= f[steps] <= atom + last + 1e-12


def test_layer_severity_on_a_short_grid_keeps_the_rest_on_its_last_point() -> None:
    f = layer_severity(40_000, 1.5, 0, 1e6, 1_000, 101)  # the grid ends at 100k < L
    assert f.sum() == pytest.approx(1, abs=1e-12)
    assert f[-1] == pytest.approx(survival(40_000, 1.5, 100_000), rel=0.05)


@pytest.mark.parametrize("policy", POLICIES)
def test_aggregate_mean_is_lam_times_the_layer_mean(policy: tuple) -> None:
    lam, median, sigma, ded, limit, agg = policy
    loss = AggregateLoss.from_policy(*policy)
    assert loss.mean == pytest.approx(lam * layer_mean(median, sigma, ded, limit), rel=1e-3)
    assert loss.limit / loss.span == pytest.approx(round(loss.limit / loss.span), abs=1e-9)
    assert loss.pmf.sum() == pytest.approx(1, abs=1e-9)
    assert loss.mean_capped <= min(agg, loss.mean) * (1 + 1e-12)
    assert 0 <= loss.prob_exhaust <= 1 and 0 <= loss.tail_mass < 1e-9


@pytest.mark.parametrize("lam", [0.01, 2.0, 40.0])
def test_panjer_and_fft_agree(lam: float) -> None:
    sev = layer_severity(40_000, 1.5, 10_000, 1e6, 1e6 / 200, 3000)
    panjer = compound_poisson(lam, sev, 3000, "panjer")
    fft = compound_poisson(lam, sev, 3000, "fft")
    assert np.abs(panjer - fft).max() < 1e-13
    a = AggregateLoss.from_policy(lam, 40_000, 1.5, 10_000, 1e6, 2e6, points=2048,
                                  method="panjer")
    b = AggregateLoss.from_policy(lam, 40_000, 1.5, 10_000, 1e6, 2e6, points=2048)
    assert a.var(0.995) == b.var(0.995)
    assert a.tvar(0.99) == pytest.approx(b.tvar(0.99), rel=1e-9)


def test_fft_tilting_keeps_a_short_grid_exact() -> None:
    # The grid covers only part of S: Panjer is exact below its end, the FFT must not wrap.
    sev = layer_severity(40_000, 1.5, 0, 1e6, 1e4, 101)
    panjer = compound_poisson(10.0, sev, 120, "panjer")
    assert panjer.sum() < 0.7
    assert np.abs(compound_poisson(10.0, sev, 120, "fft") - panjer).max() < 1e-9


def test_against_a_million_simulated_years() -> None:
    lam, median, sigma, ded, limit, agg = POLICIES[0]
    loss = AggregateLoss.from_policy(*POLICIES[0])
    years = 1_000_000
    rng = np.random.default_rng(20240601)
    counts = rng.poisson(lam, years)
    paid = np.clip(rng.lognormal(math.log(median), sigma, counts.sum()) - ded, 0, limit)
    s = np.bincount(np.repeat(np.arange(years), counts), weights=paid, minlength=years)
    h = loss.span

    assert abs(s.mean() - loss.mean) < 4 * s.std() / math.sqrt(years)
    # The empirical quantile's rank is binomial: the exact VaR lies between the empirical
    # quantiles 4 standard errors of rank either side (give or take the grid's span).
    for q in (0.99, 0.995):
        se = math.sqrt(q * (1 - q) / years)
        lo, hi = np.quantile(s, [q - 4 * se, q + 4 * se], method="inverted_cdf")
        assert lo - 2 * h <= loss.var(q) <= hi + 2 * h
    p = loss.prob_exhaust
    grid = loss.grid
    near = float(loss.pmf[np.abs(grid - agg) <= 2 * h].sum())  # discretisation around A
    assert abs(np.mean(s >= agg) - p) <= 4 * math.sqrt(p * (1 - p) / years) + near
    # Expected shortfall: the empirical tail mean at the exact VaR, with its standard error.
    v, q = loss.var(0.99), 0.99
    excess = np.maximum(s - v, 0)
    es = v + excess.mean() / (1 - q)
    assert abs(es - loss.tvar(q)) <= 4 * excess.std() / math.sqrt(years) / (1 - q) + 2 * h
    capped = np.minimum(s, agg)
    assert abs(capped.mean() - loss.mean_capped) < 4 * capped.std() / math.sqrt(years)


def test_no_claims_is_a_point_mass_at_zero() -> None:
    loss = AggregateLoss.from_policy(0.0, 40_000, 1.5, 0, 1e6, 2e6)
    assert loss.pmf[0] == 1 and not loss.pmf[1:].any()
    assert loss.mean == loss.sd == loss.mean_capped == loss.prob_exhaust == 0
    assert loss.var(0.995) == loss.tvar(0.995) == 0


def test_reports_and_chart_points() -> None:
    loss = AggregateLoss.from_policy(*POLICIES[0])
    d = loss.to_dict()
    assert set(d) >= {"mean", "sd", "mean_capped", "prob_exhaust", "var", "tvar", "method",
                      "span", "points"}
    assert set(d["var"]) == set(d["tvar"]) == {"0.99", "0.995"}
    assert d["var"]["0.99"] <= d["var"]["0.995"] <= d["tvar"]["0.995"]
    pts = loss.cdf_points(50)
    xs, ps = zip(*pts, strict=True)
    assert len(pts) == 50 and xs[0] == 0 and xs[-1] >= loss.aggregate_limit
    assert list(ps) == sorted(ps) and ps[0] >= 0 and ps[-1] > 0.999
    capped = cap_pmf(loss.pmf, loss.span, 1.234567e6)
    mean = float(np.dot(np.arange(capped.size) * loss.span, capped))
    assert mean == pytest.approx(float(np.dot(np.minimum(loss.grid, 1.234567e6), loss.pmf)))


policy_terms = st.tuples(
    st.floats(0, 20), st.floats(1e3, 1e6), st.floats(0.1, 4), st.floats(0, 1e6),
    st.floats(1e3, 1e8), st.floats(0.1, 10))


def build(terms: tuple, lam: float | None = None, agg_factor: float | None = None,
          ) -> AggregateLoss:
    lam0, median, sigma, ded, limit, factor = terms
    return AggregateLoss.from_policy(lam0 if lam is None else lam, median, sigma, ded, limit,
                                     limit * (factor if agg_factor is None else agg_factor),
                                     points=2**12)


@settings(max_examples=40, deadline=None)
@given(policy_terms, st.floats(0.5, 0.999))
def test_tvar_is_at_least_var_is_at_least_zero(terms: tuple, q: float) -> None:
    loss = build(terms)
    assert loss.tvar(q) >= loss.var(q) >= 0


@settings(max_examples=40, deadline=None)
@given(policy_terms, st.floats(0.1, 10), st.floats(0, 10))
def test_capped_mean_does_not_fall_with_the_aggregate_limit(terms: tuple, factor: float,
                                                           more: float) -> None:
    low, high = build(terms, agg_factor=factor), build(terms, agg_factor=factor + more)
    assert high.mean_capped >= low.mean_capped * (1 - 1e-9) - 1e-9 * high.aggregate_limit
    assert low.mean_capped <= low.aggregate_limit


@settings(max_examples=40, deadline=None)
@given(policy_terms, st.floats(0, 10))
def test_mean_does_not_fall_with_the_claim_rate(terms: tuple, more: float) -> None:
    lam = terms[0]
    assert build(terms, lam=lam + more).mean >= build(terms, lam=lam).mean * (1 - 1e-9)


@pytest.mark.parametrize(("terms", "message"), [
    ((-1, 40_000, 1.5, 0, 1e6, 2e6), "lam"),
    ((1, 40_000, 0, 0, 1e6, 2e6), "sigma"),
    ((1, 40_000, -1, 0, 1e6, 2e6), "sigma"),
    ((1, 40_000, 1.5, 0, 0, 2e6), "limit"),
    ((1, 40_000, 1.5, -5, 1e6, 2e6), "deductible"),
    ((1, 40_000, 1.5, 0, 1e6, 0), "aggregate_limit"),
    ((1, 40_000, 1.5, 0, 1e6, -1), "aggregate_limit"),
    ((1, 0, 1.5, 0, 1e6, 2e6), "median"),
    ((math.nan, 40_000, 1.5, 0, 1e6, 2e6), "lam"),
    ((1, 40_000, 1.5, 0, math.inf, 2e6), "limit"),
])
def test_bad_terms_are_refused_by_name(terms: tuple, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        AggregateLoss.from_policy(*terms)
    with pytest.raises(InvalidInputError, match=message):
        Policy("bad", *terms)


def test_bad_grids_and_levels_are_refused() -> None:
    loss = AggregateLoss.from_policy(*POLICIES[0], points=1024)
    for q in (0, 1, -0.5, 1.5, math.nan):
        with pytest.raises(InvalidInputError, match="quantile level"):
            loss.var(q)
    with pytest.raises(InvalidInputError, match="too few"):
        AggregateLoss.from_policy(500, 40_000, 1.5, 0, 1e6, 2e6, points=256)
    with pytest.raises(InvalidInputError, match="method"):
        compound_poisson(1, [0.5, 0.5], 10, "simulate")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="sums to"):
        compound_poisson(1, [0.7, 0.7], 10)
    with pytest.raises(InvalidInputError, match="span"):
        layer_severity(40_000, 1.5, 0, 1e6, 0, 10)


# A book of eight policies; two groups of shared works (a film studio's characters, a music
# label's catalogue).
BOOK = [Policy(f"insured {i}", 0.5 + 0.2 * i, 40_000, 1.5, 10_000, 1e6, 2e6) for i in range(8)]
GROUPS = ["studio", "label"]
YEARS = 100_000


def sharing(share: float, concentration: float) -> list[SharedGroup]:
    weights = [[1.0, 0.0] if i % 3 == 0 else [0.4, 0.6] for i in range(len(BOOK))]
    return groups_from_shares(BOOK, [share] * len(BOOK), weights, GROUPS, concentration)


@pytest.mark.parametrize(("share", "concentration"), [(0.0, 1.0), (0.5, 0.2), (0.9, 1.0)])
def test_each_policy_keeps_its_claim_frequency(share: float, concentration: float) -> None:
    groups = sharing(share, concentration)
    assert shared_shares(BOOK, groups) == pytest.approx([share] * len(BOOK))
    counts = simulate_portfolio(BOOK, groups, YEARS, seed=7).counts
    for i, pol in enumerate(BOOK):
        lam = pol.lam
        assert abs(counts[:, i].mean() - lam) < 4 * math.sqrt(lam / YEARS)
        assert abs(counts[:, i].var() - lam) < 5 * math.sqrt((lam + 2 * lam**2) / YEARS)
    # ... while the sharing shows in the covariances: sum_g rate_g p_ig p_jg.
    cov = np.cov(counts.T)
    for i, j in [(0, 3), (1, 2), (0, 1)]:
        want = sum(g.rate * g.hit_prob[i] * g.hit_prob[j] for g in groups)
        se = math.sqrt(cov[i, i] * cov[j, j] + cov[i, j] ** 2) / math.sqrt(YEARS)
        assert abs(cov[i, j] - want) < 5 * se


def test_independent_book_matches_its_simulation() -> None:
    pmf, span = independent_portfolio(BOOK)
    total = simulate_portfolio(BOOK, [], YEARS, seed=3).total
    x = np.arange(pmf.size) * span
    assert abs(total.mean() - float(np.dot(x, pmf))) < 4 * total.std() / math.sqrt(YEARS)
    cdf = np.cumsum(pmf)
    for q in (0.99, 0.995):
        se = math.sqrt(q * (1 - q) / YEARS)
        lo, hi = np.quantile(total, [q - 4 * se, q + 4 * se], method="inverted_cdf")
        exact = x[np.searchsorted(cdf, q)]
        assert lo - len(BOOK) * span <= exact <= hi + len(BOOK) * span


@pytest.mark.parametrize(("share", "concentration", "uplift"),
                         [(0.5, 0.2, 1.0), (0.9, 1.0, 1.15)])
def test_shared_works_keep_the_mean_and_raise_the_tail(share: float, concentration: float,
                                                       uplift: float) -> None:
    result = compare_portfolio(BOOK, sharing(share, concentration), YEARS, seed=11)
    dep, ind = result.dependent, result.independent
    assert dep.mean_se is not None
    assert abs(dep.mean - ind.mean) < 4 * dep.mean_se
    # Not lower (sampling error allowed for) with some sharing; clearly higher with strong.
    q = 0.995
    se = math.sqrt(q * (1 - q) / YEARS)
    assert dep.var[q] * (1 + 40 * se) >= ind.var[q] * uplift
    assert dep.tvar[q] >= ind.tvar[q] * uplift * (1 - 40 * se)
    d = result.to_dict()
    assert d["dependence_cost"]["var"]["0.995"] == pytest.approx(
        dep.var[q] - ind.var[q], abs=0.01)
    assert [p["shared_share"] for p in d["policies"]] == pytest.approx([share] * len(BOOK))


def test_bad_portfolios_are_refused() -> None:
    with pytest.raises(InvalidInputError, match="more than"):
        simulate_portfolio(BOOK[:1], [SharedGroup("studio", 5.0, (1.0,))], 10)
    with pytest.raises(InvalidInputError, match="hit probabilities"):
        simulate_portfolio(BOOK[:2], [SharedGroup("studio", 0.1, (1.0,))], 10)
    with pytest.raises(InvalidInputError, match="hit probabilities"):
        SharedGroup("studio", 0.1, (1.5,))
    with pytest.raises(InvalidInputError, match="concentration"):
        groups_from_shares(BOOK[:1], [0.5], [[1.0]], ["studio"], 0)
    with pytest.raises(InvalidInputError, match="sum to 1"):
        groups_from_shares(BOOK[:1], [0.5], [[0.5]], ["studio"])
    with pytest.raises(InvalidInputError, match="at least one policy"):
        independent_portfolio([])
