"""A book of policies whose claims share works and owners: what dependence costs in capital.

One popular character copied by many insureds' models is one event that reaches many policies
at once, so a book is riskier than the sum of independent policies with the same expected loss.
This module puts the two side by side: the book simulated with shared events, and the book
computed exactly as if every policy were independent.

The common-shock model. Policy i has claims N_i ~ Poisson(lam_i) a year, as in its pricing.
Group g (a work or an owner's catalogue) has E_g ~ Poisson(rate_g) events a year; each event
gives policy i a claim with probability hit_prob[i][g], independently across policies given
the event. By Poisson thinning, policy i's shared claims from g are Poisson(rate_g p_ig),
independent across groups, and the rest of its claims come from an independent
Poisson(lam_i - sum_g rate_g p_ig). So:

* each policy's marginal frequency stays Poisson(lam_i) whatever the sharing (tests check it);
* shared_share_i = sum_g rate_g p_ig / lam_i is the part of policy i's claims due to shared
  events; it must not exceed 1;
* Cov(N_i, N_j) = sum_g rate_g p_ig p_jg: few events that hit many policies (high p, low
  rate) bind the book together; many events that hit one policy each tend to independence.

`groups_from_shares` sets the model from the underwriter's view instead: the share rho_i of
each policy's frequency that is shared, how it divides between groups (weights w_ig), and a
concentration c in (0, 1], the hit probability of the group's most exposed policy:
rate_g = max_i(rho_i lam_i w_ig) / c and p_ig = rho_i lam_i w_ig / rate_g. c = 1 is the
tightest sharing those shares allow; c -> 0 tends to independence.

Severities stay independent across claims (a shared work makes claims coincide in time, not
in size), each claim pays its layer min(max(X - D_i, 0), L_i), and a policy's year is capped
at its aggregate limit A_i.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from screening.errors import InvalidInputError
from screening.underwriting.aggregate import (
    Array,
    cap_pmf,
    check_policy_terms,
    compound_poisson,
    layer_severity,
    tail_value_at_risk,
    value_at_risk,
)

LEVELS = (0.99, 0.995)
DEFAULT_YEARS = 100_000
DEFAULT_POINTS = 2**15


@dataclass(frozen=True)
class Policy:
    """One policy's terms: claims a year, lognormal severity, and its layer."""

    name: str
    lam: float
    median: float
    sigma: float
    deductible: float
    limit: float
    aggregate_limit: float

    def __post_init__(self) -> None:
        check_policy_terms(self.lam, self.median, self.sigma, self.deductible, self.limit,
                           self.aggregate_limit)


@dataclass(frozen=True)
class SharedGroup:
    """A work or owner whose events reach several policies: `rate` events a year, each a claim
    on policy i with probability hit_prob[i]."""

    name: str
    rate: float
    hit_prob: tuple[float, ...]

    def __post_init__(self) -> None:
        if not (math.isfinite(self.rate) and self.rate >= 0):
            raise InvalidInputError(f"group {self.name!r}: rate must be finite and >= 0, got "
                                    f"{self.rate}")
        if any(not (0 <= p <= 1) for p in self.hit_prob):
            raise InvalidInputError(f"group {self.name!r}: hit probabilities lie in [0, 1]")


def shared_rates(policies: Sequence[Policy], groups: Sequence[SharedGroup]) -> Array:
    """sum_g rate_g p_ig for each policy: its expected shared claims a year."""
    if not policies:
        raise InvalidInputError("a portfolio needs at least one policy")
    out = np.zeros(len(policies))
    for g in groups:
        if len(g.hit_prob) != len(policies):
            raise InvalidInputError(f"group {g.name!r} gives {len(g.hit_prob)} hit "
                                    f"probabilities for {len(policies)} policies")
        out += g.rate * np.asarray(g.hit_prob, dtype=np.float64)
    for p, shared in zip(policies, out, strict=True):
        if shared > p.lam * (1 + 1e-12):
            raise InvalidInputError(f"policy {p.name!r}: shared events bring {shared:g} claims "
                                    f"a year, more than its {p.lam:g}")
    return out


def shared_shares(policies: Sequence[Policy], groups: Sequence[SharedGroup]) -> Array:
    """rho_i: the part of each policy's claims that comes from shared events."""
    lam = np.array([p.lam for p in policies])
    rates = shared_rates(policies, groups)
    return np.divide(rates, lam, out=np.zeros_like(rates), where=lam > 0)


def groups_from_shares(policies: Sequence[Policy], shares: Sequence[float],
                       weights: Sequence[Sequence[float]], names: Sequence[str],
                       concentration: float = 1.0) -> list[SharedGroup]:
    """Groups that give policy i the shared share rho_i = shares[i], split over the groups by
    weights[i] (a row per policy, summing to 1 where the share is positive); see the module
    docstring for the concentration."""
    rho = np.asarray(shares, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64)
    if rho.shape != (len(policies),) or np.any((rho < 0) | (rho > 1)):
        raise InvalidInputError("shares: one number in [0, 1] per policy")
    if w.shape != (len(policies), len(names)) or np.any(w < 0):
        raise InvalidInputError("weights: a row of non-negative weights per policy, one per "
                                "group")
    if np.any((rho > 0) & (np.abs(w.sum(axis=1) - 1) > 1e-9)):
        raise InvalidInputError("weights: each row with a positive share must sum to 1")
    if not 0 < concentration <= 1:
        raise InvalidInputError(f"concentration must lie in (0, 1], got {concentration}")
    lam = np.array([p.lam for p in policies])
    shared = (rho * lam)[:, None] * w  # rate_g * p_ig
    groups = []
    for g, name in enumerate(names):
        top = float(shared[:, g].max(initial=0.0))
        rate = top / concentration
        probs = shared[:, g] / rate if rate > 0 else np.zeros(len(policies))
        groups.append(SharedGroup(name, rate, tuple(float(min(1.0, p)) for p in probs)))
    return groups


@dataclass(frozen=True, eq=False)
class PortfolioSimulation:
    """Simulated years: claim counts and capped annual payments, a row per year."""

    counts: npt.NDArray[np.int64]
    payments: Array

    @property
    def total(self) -> Array:
        return self.payments.sum(axis=1)


def simulate_portfolio(policies: Sequence[Policy], groups: Sequence[SharedGroup],
                       years: int = DEFAULT_YEARS, seed: int = 0) -> PortfolioSimulation:
    """The common-shock model, simulated `years` times with a seeded generator."""
    if years < 1:
        raise InvalidInputError(f"years must be >= 1, got {years}")
    shared = shared_rates(policies, groups)
    rng = np.random.default_rng(seed)
    counts = np.zeros((years, len(policies)), dtype=np.int64)
    for g in groups:
        events = rng.poisson(g.rate, years)
        for i, p in enumerate(g.hit_prob):
            if p > 0:
                counts[:, i] += rng.binomial(events, p)
    payments = np.zeros((years, len(policies)))
    for i, pol in enumerate(policies):
        counts[:, i] += rng.poisson(max(0.0, pol.lam - shared[i]), years)
        x = rng.lognormal(math.log(pol.median), pol.sigma, int(counts[:, i].sum()))
        paid = np.clip(x - pol.deductible, 0.0, pol.limit)
        year = np.repeat(np.arange(years), counts[:, i])
        annual = np.bincount(year, weights=paid, minlength=years)
        payments[:, i] = np.minimum(annual, pol.aggregate_limit)
    return PortfolioSimulation(counts, payments)


def independent_portfolio(policies: Sequence[Policy], points: int = DEFAULT_POINTS,
                          ) -> tuple[Array, float]:
    """(pmf, span) of sum_i min(S_i, A_i) with independent policies, exact up to the grid.

    The common span is sum_i A_i / (points - 1), so the book's whole range fits; each policy's
    compound distribution is computed up to its aggregate limit, capped, and the policies are
    convolved by one FFT.
    """
    if not policies:
        raise InvalidInputError("a portfolio needs at least one policy")
    if points < 2 * len(policies) + 2:
        raise InvalidInputError(f"{points} points are too few for {len(policies)} policies")
    span = sum(p.aggregate_limit for p in policies) / (points - 1)
    capped = []
    for p in policies:
        n = math.floor(p.aggregate_limit / span) + 2
        sev = layer_severity(p.median, p.sigma, p.deductible, p.limit, span, n)
        capped.append(cap_pmf(compound_poisson(p.lam, sev, n, "fft"), span, p.aggregate_limit))
    length = sum(c.size for c in capped) - len(capped) + 1
    size = 1 << (length - 1).bit_length()
    transform = np.ones(size // 2 + 1, dtype=np.complex128)
    for c in capped:
        transform *= np.fft.rfft(c, size)
    pmf = np.maximum(np.fft.irfft(transform, size)[:length], 0.0)
    return pmf, span


@dataclass(frozen=True)
class RiskSummary:
    """Mean, sd, VaR and TVaR (expected shortfall) at LEVELS; mean_se for simulated figures."""

    mean: float
    sd: float
    var: dict[float, float]
    tvar: dict[float, float]
    mean_se: float | None = None

    @classmethod
    def of_distribution(cls, pmf: Array, span: float) -> RiskSummary:
        x = np.arange(pmf.size) * span
        mean = float(np.dot(x, pmf))
        sd = math.sqrt(max(0.0, float(np.dot((x - mean) ** 2, pmf))))
        return cls(mean, sd, {q: value_at_risk(x, pmf, q) for q in LEVELS},
                   {q: tail_value_at_risk(x, pmf, q) for q in LEVELS})

    @classmethod
    def of_samples(cls, values: Array) -> RiskSummary:
        sd = float(values.std(ddof=1)) if values.size > 1 else 0.0
        var, tvar = {}, {}
        for q in LEVELS:
            v = float(np.quantile(values, q, method="inverted_cdf"))
            var[q] = v
            tvar[q] = v + float(np.maximum(values - v, 0.0).mean()) / (1 - q)
        return cls(float(values.mean()), sd, var, tvar, sd / math.sqrt(values.size))

    def to_dict(self) -> dict:
        out: dict = {"mean": round(self.mean, 2), "sd": round(self.sd, 2),
                     "var": {str(q): round(v, 2) for q, v in self.var.items()},
                     "tvar": {str(q): round(v, 2) for q, v in self.tvar.items()}}
        if self.mean_se is not None:
            out["mean_se"] = round(self.mean_se, 2)
        return out


@dataclass(frozen=True)
class PortfolioComparison:
    """The book with shared events (simulated) beside the same book if independent (exact)."""

    dependent: RiskSummary
    independent: RiskSummary
    shares: tuple[float, ...]
    names: tuple[str, ...]
    years: int
    seed: int
    span: float

    def to_dict(self) -> dict:
        d, i = self.dependent, self.independent
        return {
            "policies": [{"name": n, "shared_share": round(s, 6)}
                         for n, s in zip(self.names, self.shares, strict=True)],
            "dependent": {**d.to_dict(), "method": "common-shock simulation",
                          "years": self.years, "seed": self.seed},
            "independent": {**i.to_dict(), "method": "FFT convolution",
                            "span": round(self.span, 6)},
            # what sharing works costs: capital the book needs beyond the independent case
            "dependence_cost": {
                "var": {str(q): round(d.var[q] - i.var[q], 2) for q in LEVELS},
                "tvar": {str(q): round(d.tvar[q] - i.tvar[q], 2) for q in LEVELS},
            },
        }


def compare_portfolio(policies: Sequence[Policy], groups: Sequence[SharedGroup],
                      years: int = DEFAULT_YEARS, seed: int = 0,
                      points: int = DEFAULT_POINTS) -> PortfolioComparison:
    """Simulate the book with its shared groups and compute it exactly without them."""
    sim = simulate_portfolio(policies, groups, years, seed)
    pmf, span = independent_portfolio(policies, points)
    return PortfolioComparison(
        RiskSummary.of_samples(sim.total), RiskSummary.of_distribution(pmf, span),
        tuple(float(s) for s in shared_shares(policies, groups)),
        tuple(p.name for p in policies), years, seed, span)
