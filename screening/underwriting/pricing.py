"""The quote: every factor of the rating plan applied in order, written down as a worksheet.

gross premium = (base loss cost x exposure x screening x category mix x jurisdiction x ILF
                 x deductible x schedule x experience mod + fixed expense)
                / (1 - variable expense - profit)

ILF(L) = E[X ^ L] / E[X ^ basic limit] and the deductible factor
(E[X ^ (D + L)] - E[X ^ D]) / E[X ^ L] come from the plan's severity curve, so together they
are the expected loss per claim in the layer D..D+L relative to the basic limit. The same
inputs give the same worksheet, byte for byte (no clocks, fixed rounding).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

from screening.errors import InvalidInputError
from screening.underwriting.applicant import Applicant, parse_applicant
from screening.underwriting.plan import SEVERITY_CLASSES, RatingPlan

MAX_LIMIT = 1e11


def _r(x: float) -> float:
    return round(float(x), 6)


@dataclass(frozen=True)
class Step:
    name: str
    input: str
    factor: float | None  # None for additive steps
    value: float  # running value after this step
    source: str

    def to_dict(self) -> dict:
        return {"name": self.name, "input": self.input,
                "factor": None if self.factor is None else _r(self.factor),
                "value": _r(self.value), "source": self.source}


@dataclass(frozen=True)
class SampleSummary:
    """What pricing needs from a risk profile."""

    outputs: int
    expected_hits: float
    severity_mix: dict[str, float] = field(default_factory=dict)  # empty: no hits

    def __post_init__(self) -> None:
        # A pricing engine may send a profile summary of its own: a mix with a class the plan
        # does not rate, or shares that are negative or do not add up, used to be priced as if
        # no mix had been given (the reference mix), without a word.
        mix = self.severity_mix
        unknown = sorted(set(mix) - set(SEVERITY_CLASSES))
        if unknown:
            raise InvalidInputError(f"severity_mix: unknown severity class {unknown[0]!r} "
                                    f"(the classes are {', '.join(SEVERITY_CLASSES)})")
        if any(not math.isfinite(v) or v < 0 for v in mix.values()):
            raise InvalidInputError("severity_mix: shares must be finite and >= 0")
        if mix and abs(sum(mix.values()) - 1) > 1e-4:
            raise InvalidInputError(f"severity_mix: shares must sum to 1 (they sum to "
                                    f"{sum(mix.values()):.4f})")


@dataclass
class Quote:
    plan: RatingPlan
    applicant: Applicant
    limit: float
    deductible: float
    currency: str
    fx_rate: float
    steps: list[Step]
    premium: float  # in `currency`
    premium_plan_currency: float
    screening_versions: list[dict] = field(default_factory=list)
    profile: dict = field(default_factory=dict)

    def factors(self) -> dict[str, float]:
        return {s.name: s.factor for s in self.steps if s.factor is not None}

    def to_dict(self) -> dict:
        p = self.plan
        return {
            "plan": {"plan_id": p.plan_id, "version": p.version, "sha256": p.sha256,
                     "effective_date": p.effective_date.isoformat(), "currency": p.currency},
            "applicant": self.applicant.name,
            "limit": _r(self.limit), "deductible": _r(self.deductible),
            "currency": self.currency, "fx_rate": _r(self.fx_rate),
            "premium": round(self.premium, 2),
            "premium_plan_currency": round(self.premium_plan_currency, 2),
            "rate_on_line": _r(self.premium / self.limit),
            "worksheet": [s.to_dict() for s in self.steps],
            "profile": self.profile,
            "screening_versions": self.screening_versions,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=False, ensure_ascii=False) + "\n"


def _check_terms(plan: RatingPlan, limit: float, deductible: float, currency: str) -> float:
    if not 0 < limit <= MAX_LIMIT:
        raise InvalidInputError(f"limit must be positive and at most {MAX_LIMIT:,.0f}, got "
                                f"{limit}")
    if not 0 <= deductible < limit:
        raise InvalidInputError(f"deductible must be >= 0 and below the limit, got "
                                f"{deductible}")
    rate = plan.fx.rates.get(currency.upper())
    if rate is None or rate <= 0:
        raise InvalidInputError(f"currency {currency!r} is not in the plan's fx table "
                                f"({', '.join(sorted(plan.fx.rates))})")
    return rate


def quote(plan: RatingPlan, applicant: Applicant, sample: SampleSummary, limit: float,
          deductible: float, currency: str | None = None,
          base_loss_cost: float | None = None) -> Quote:
    """Price `applicant` under `plan`. Limit and deductible are in `currency` (default: the
    plan's)."""
    currency = (currency or plan.currency).upper()
    rate = _check_terms(plan, limit, deductible, currency)
    unknown = [c for c in applicant.controls if c not in plan.schedule.items]
    if unknown:
        raise InvalidInputError(f"unknown control(s) {', '.join(unknown)}; the plan knows "
                                f"{', '.join(sorted(plan.schedule.items))}")
    if sample.outputs < 1 or not 0 <= sample.expected_hits <= sample.outputs:
        raise InvalidInputError("a sample needs >= 1 output and 0 <= hits <= outputs")
    limit_p, ded_p = limit * rate, deductible * rate  # in plan currency
    steps: list[Step] = []
    value = base_loss_cost if base_loss_cost is not None else plan.base_loss_cost.value

    def mul(name: str, what: str, factor: float, source: str) -> None:
        nonlocal value
        value *= factor
        steps.append(Step(name, what, factor, value, source))

    steps.append(Step("base loss cost", f"{plan.currency} per policy year at the basic limit "
                      f"{plan.severity.basic_limit:,.0f}", None, value,
                      plan.base_loss_cost.source))
    f, band = plan.exposure.factor(applicant.annual_outputs)
    mul("exposure factor", f"{applicant.annual_outputs:,.0f} outputs a year ({band})", f,
        plan.exposure.source)
    s = plan.screening
    a0 = s.reference_hit_rate * s.prior_strength
    post = (a0 + sample.expected_hits) / (s.prior_strength + sample.outputs)
    z = sample.outputs / (sample.outputs + s.prior_strength)
    mul("screening factor",
        f"{sample.expected_hits:.3f} expected hits in {sample.outputs} outputs; posterior hit "
        f"rate {post:.5f} (Z = {z:.3f}) vs reference {s.reference_hit_rate}",
        (post / s.reference_hit_rate) ** s.elasticity, s.source)
    cm = plan.category_mix
    observed = sample.severity_mix or cm.reference_mix
    blended = {c: z * observed.get(c, 0.0) + (1 - z) * cm.reference_mix[c]
               for c in SEVERITY_CLASSES}
    ref = sum(cm.reference_mix[c] * cm.relativities[c] for c in SEVERITY_CLASSES)
    mul("category-mix factor",
        "severity mix " + ", ".join(f"{c} {blended[c]:.3f}" for c in SEVERITY_CLASSES)
        + f" (observed blended with the reference by Z = {z:.3f})",
        sum(blended[c] * cm.relativities[c] for c in SEVERITY_CLASSES) / ref, cm.source)
    j = plan.jurisdiction
    mul("jurisdiction factor",
        ", ".join(f"{k} {v:.0%}" + ("" if k in j.relativities else " (rated as OTHER)")
                  for k, v in sorted(applicant.jurisdictions.items())),
        sum(share * j.of(code) for code, share in applicant.jurisdictions.items()), j.source)
    sev = plan.severity
    lev_l, lev_b = sev.lev(limit_p), sev.lev(sev.basic_limit)
    mul("increased-limit factor",
        f"limit {limit_p:,.0f} {plan.currency}: E[X^L] {lev_l:,.0f} / E[X^B] {lev_b:,.0f}",
        lev_l / lev_b, sev.source)
    layer = sev.lev(ded_p + limit_p) - sev.lev(ded_p)
    mul("deductible factor",
        f"deductible {ded_p:,.0f} {plan.currency}: (E[X^(D+L)] - E[X^D]) / E[X^L]",
        layer / lev_l, sev.source)
    credits = {c: plan.schedule.items[c].amount for c in applicant.controls}
    total = sum(credits.values())
    capped = max(-plan.schedule.cap, min(plan.schedule.cap, total))
    mul("schedule factor",
        (", ".join(f"{c} {v:+.0%}" for c, v in sorted(credits.items())) or "no controls")
        + (f"; total {total:+.0%} capped at {capped:+.0%}" if capped != total else ""),
        1 + capped, plan.schedule.source)
    e = plan.experience
    hist = applicant.claims_history
    expected = hist.years * e.expected_claims_per_year
    if expected > 0:
        ze = expected / (expected + e.credibility_k)
        mod = min(e.max_mod, max(e.min_mod, 1 + ze * (hist.claims / expected - 1)))
        what = (f"{hist.claims} claims in {hist.years} years vs {expected:.2f} expected; "
                f"credibility {ze:.3f}")
    else:
        mod, what = 1.0, "no claims history: no modification"
    mul("experience modification", what, mod, e.source)
    ex = plan.expenses
    value += ex.fixed
    steps.append(Step("fixed expense", f"{ex.fixed:,.2f} {plan.currency}", None, value,
                      ex.source))
    load = 1 - ex.variable - ex.profit
    value /= load
    steps.append(Step("variable expense and profit",
                      f"divide by 1 - {ex.variable} - {ex.profit}", 1 / load, value, ex.source))
    premium_plan = round(value, 2)
    premium = round(value / rate, 2)
    if currency != plan.currency:
        steps.append(Step("currency", f"{rate} {plan.currency} per {currency}", 1 / rate,
                          value / rate, plan.fx.source))
    return Quote(plan, applicant, limit, deductible, currency, rate, steps, premium,
                 premium_plan)


def reference_quote(plan: RatingPlan, base_loss_cost: float | None = None) -> Quote:
    ref = plan.reference_applicant
    return quote(plan, parse_applicant(ref.applicant, "plan.reference_applicant.applicant"),
                 SampleSummary(ref.sample.outputs, ref.sample.weighted_hits),
                 ref.limit, ref.deductible, plan.currency, base_loss_cost)


def solve_base_loss_cost(plan: RatingPlan) -> float:
    """The base loss cost at which the reference applicant's premium equals the plan's
    reference premium (the premium is affine in the base loss cost)."""
    p0 = reference_quote(plan, 0.0).steps[-1].value  # unrounded, in the plan's currency
    p1 = reference_quote(plan, 1.0).steps[-1].value
    if p1 <= p0:
        raise InvalidInputError("the plan's factors give the reference applicant no premium")
    return (plan.reference_applicant.premium - p0) / (p1 - p0)
