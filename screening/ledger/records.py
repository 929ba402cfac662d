"""What a policy and a claim are made of, validated before anything is written.

A policy keeps, beside its terms, what the plan expected of it when it was priced
(`expected_claims`: claims a year that cost the insurer, `expected_loss`: the pure premium)
and the rating inputs experience rating segments by (severity mix, jurisdictions, controls,
hit rate). Those come from the quote it was bound from, or from a CSV row.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Literal, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from screening.errors import InvalidInputError, first_validation_error
from screening.underwriting.plan import SEVERITY_CLASSES

ClaimStatus = Literal["open", "closed", "denied", "withdrawn"]
#: Claims that count as losses: denied and withdrawn ones cost only their defence.
CLAIM_STATUSES: tuple[str, ...] = ("open", "closed", "denied", "withdrawn")
MAX_AMOUNT = 1e12


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False,
                              str_strip_whitespace=True)


class PolicySummary(Strict):
    """The rating inputs and the plan's expectation, at binding."""

    annual_outputs: float = Field(default=0, ge=0, le=1e13)
    jurisdictions: dict[str, float] = Field(default_factory=dict)
    controls: list[str] = Field(default_factory=list)
    outputs: int = Field(default=0, ge=0)
    expected_hits: float = Field(default=0, ge=0)
    hit_rate: float = Field(ge=0, le=1, description="posterior mean hit rate when priced")
    severity_mix: dict[str, float] = Field(default_factory=dict)
    expected_claims: float = Field(ge=0, le=1e6, description="claims a year the plan "
                                   "expected to cost the insurer (above the deductible)")
    expected_loss: float = Field(ge=0, le=MAX_AMOUNT, description="the pure premium")
    #: the experience modification the quote applied (kept when the policy is re-rated)
    experience_mod: float = Field(default=1.0, gt=0, le=10)
    #: rights owners the sample's hits were on, by share of the hits: the book's shared
    #: events (screening/ledger/book.py)
    owners: dict[str, float] = Field(default_factory=dict)

    @field_validator("severity_mix")
    @classmethod
    def _mix(cls, mix: dict[str, float]) -> dict[str, float]:
        if set(mix) - set(SEVERITY_CLASSES) or any(v < 0 for v in mix.values()):
            raise ValueError(f"severity_mix takes shares of {', '.join(SEVERITY_CLASSES)}")
        return mix

    @field_validator("jurisdictions")
    @classmethod
    def _codes(cls, j: dict[str, float]) -> dict[str, float]:
        if any(v < 0 for v in j.values()):
            raise ValueError("jurisdiction shares must be >= 0")
        return {k.upper(): v for k, v in j.items()}


class PolicyIn(Strict):
    policy_no: str = Field(min_length=1, max_length=100, pattern=r"^[^\s/]+$")
    tenant: str = Field(default="", max_length=200)
    applicant: str = Field(min_length=1, max_length=300)
    plan_id: str = Field(min_length=1, max_length=100)
    plan_version: str = Field(min_length=1, max_length=50)
    plan_sha256: str = Field(default="", pattern=r"^([0-9a-f]{64})?$")
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    limit: float = Field(gt=0, le=MAX_AMOUNT, description="per claim")
    aggregate_limit: float | None = Field(default=None, gt=0, le=MAX_AMOUNT,
                                          description="a year; default: the limit")
    deductible: float = Field(default=0, ge=0, le=MAX_AMOUNT)
    premium: float = Field(gt=0, le=MAX_AMOUNT)
    period_start: date
    period_end: date | None = None
    summary: PolicySummary

    @model_validator(mode="after")
    def _terms(self) -> PolicyIn:
        if self.deductible >= self.limit:
            raise ValueError("deductible must be below the limit")
        if self.aggregate_limit is not None and self.aggregate_limit < self.limit:
            raise ValueError("aggregate_limit must be at least the per-claim limit")
        end = self.period_end
        if end is not None and not self.period_start < end <= self.period_start + \
                timedelta(days=3 * 366):
            raise ValueError("period_end must follow period_start, within three years")
        return self

    @property
    def end(self) -> date:
        """One year unless stated: the day before the anniversary."""
        if self.period_end is not None:
            return self.period_end
        s = self.period_start
        try:
            return s.replace(year=s.year + 1) - timedelta(days=1)
        except ValueError:  # 29 February
            return s.replace(year=s.year + 1, day=28)


class ClaimIn(Strict):
    claim_no: str = Field(min_length=1, max_length=100, pattern=r"^[^\s/]+$")
    policy_no: str = Field(min_length=1, max_length=100)
    loss_date: date
    reported_date: date | None = None
    external_id: str = Field(default="", max_length=200)
    owner: str = Field(default="", max_length=300)
    category: str = Field(default="", max_length=100)
    jurisdiction: str = Field(default="", max_length=20)
    paid: float = Field(default=0, ge=0, le=MAX_AMOUNT)
    reserved: float = Field(default=0, ge=0, le=MAX_AMOUNT)
    defence: float = Field(default=0, ge=0, le=MAX_AMOUNT)
    status: ClaimStatus = "open"
    request_id: str = Field(default="", max_length=64)
    input_sha256: str = Field(default="", pattern=r"^([0-9a-f]{64})?$")
    note: str = Field(default="", max_length=10_000)

    @model_validator(mode="after")
    def _dates(self) -> ClaimIn:
        if self.reported_date is not None and self.reported_date < self.loss_date:
            raise ValueError("reported_date must not precede loss_date")
        return self


class ClaimChange(Strict):
    """What a claim's later record changes: amounts, status, a note."""

    paid: float | None = Field(default=None, ge=0, le=MAX_AMOUNT)
    reserved: float | None = Field(default=None, ge=0, le=MAX_AMOUNT)
    defence: float | None = Field(default=None, ge=0, le=MAX_AMOUNT)
    status: ClaimStatus | None = None
    note: str | None = Field(default=None, max_length=10_000)

    @model_validator(mode="after")
    def _something(self) -> ClaimChange:
        if all(v is None for v in self.model_dump().values()):
            raise ValueError("nothing to change: give paid, reserved, defence, status or note")
        return self


T = TypeVar("T", bound=BaseModel)


def parse(model: type[T], raw: object, where: str) -> T:
    """A validated record, or InvalidInputError naming the first bad field."""
    if not isinstance(raw, dict):
        raise InvalidInputError(f"{where}: a record is a mapping of fields")
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise InvalidInputError(f"{where}: {first_validation_error(exc.errors())}") from None


def policy_from_quote(quote: dict, policy_no: str, start: date, tenant: str = "",
                      end: date | None = None) -> PolicyIn:
    """A policy bound from a quote (what `ipscreen underwrite --json` or POST
    /v1/pricing/quote returned). Only a quote the plan offered can be bound."""
    if not isinstance(quote, dict) or "plan" not in quote or "worksheet" not in quote:
        raise InvalidInputError("not a quote (an object with plan and worksheet)")
    if quote.get("decision", "quote") != "quote" or quote.get("premium") is None:
        raise InvalidInputError(f"the quote was not offered ({quote.get('decision')}: "
                                f"{'; '.join(quote.get('reasons', []))}); it cannot be bound")
    facts = quote.get("applicant_facts") or {}
    profile = quote.get("profile") or {}
    hit = (profile.get("hit_rate") or {}).get("posterior_mean")
    owners: dict[str, float] = {}
    for t in profile.get("top_contributions") or []:
        if t.get("owner"):
            owners[t["owner"]] = owners.get(t["owner"], 0.0) + float(t.get("probability", 0))
    total = sum(owners.values())
    priced = quote.get("sample") or {}
    summary = {"annual_outputs": facts.get("annual_outputs", 0),
               "jurisdictions": facts.get("jurisdictions", {}),
               "controls": facts.get("controls", []),
               "outputs": int(priced.get("outputs", profile.get("outputs", 0)) or 0),
               "expected_hits": priced.get("expected_hits", profile.get("expected_hits", 0)),
               "hit_rate": priced.get("posterior_hit_rate", hit or 0),
               "severity_mix": priced.get("severity_mix", profile.get("severity_mix")) or {},
               "expected_claims": quote.get("expected_claims", 0),
               "expected_loss": quote.get("expected_loss", 0),
               "owners": {k: v / total for k, v in owners.items()} if total > 0 else {},
               "experience_mod": next((w["factor"] for w in quote["worksheet"]
                                       if w.get("name") == "experience modification"), 1.0)}
    plan = quote["plan"]
    return parse(PolicyIn, {
        "policy_no": policy_no, "tenant": tenant, "applicant": quote.get("applicant", ""),
        "plan_id": plan.get("plan_id", ""), "plan_version": plan.get("version", ""),
        "plan_sha256": plan.get("sha256", ""), "currency": quote.get("currency", ""),
        "limit": quote.get("limit"), "aggregate_limit": quote.get("aggregate_limit"),
        "deductible": quote.get("deductible", 0), "premium": quote.get("premium"),
        "period_start": start, "period_end": end, "summary": summary}, "quote")
