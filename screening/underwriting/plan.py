"""The rating plan: a versioned YAML file, validated with pydantic, hashed onto every quote.

Unknown fields are refused (a typo in a factor name must not silently fall back to a
default), every table carries its source, and the plan's SHA-256 identifies exactly which
numbers priced a quote.
"""

from __future__ import annotations

import hashlib
import math
import re
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from screening.errors import InvalidInputError, first_validation_error
from screening.files import read_file_limited

#: Rating plans and applicant files are a few kilobytes; a megabyte is generous.
MAX_YAML_BYTES = 1024 * 1024

SeverityClass = Literal["severe", "major", "minor"]
SEVERITY_CLASSES: tuple[SeverityClass, ...] = ("severe", "major", "minor")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class Sourced(Strict):
    source: str = Field(min_length=3)

    @field_validator("source")
    @classmethod
    def _tidy(cls, v: str) -> str:
        return " ".join(v.split())


class BaseLossCost(Sourced):
    value: float = Field(gt=0)


class Severity(Sourced):
    distribution: Literal["lognormal"] = "lognormal"
    median: float = Field(gt=0)
    sigma: float = Field(gt=0, le=5)
    basic_limit: float = Field(gt=0)

    @property
    def mu(self) -> float:
        return math.log(self.median)

    def lev(self, limit: float) -> float:
        """Limited expected value E[min(X, limit)] of the lognormal."""
        if limit <= 0:
            return 0.0
        mu, s = self.mu, self.sigma
        z = (math.log(limit) - mu) / s
        return (math.exp(mu + s * s / 2) * _phi(z - s)) + limit * (1 - _phi(z))

    def survival(self, x: float) -> float:
        """P(X > x): the share of claims that pass a deductible of x."""
        return lognormal_survival(self.median, self.sigma, x)


def lognormal_survival(median: float, sigma: float, x: float) -> float:
    """P(X > x) for a lognormal with this median and sigma (1 at and below 0)."""
    if x <= 0:
        return 1.0
    return 0.5 * math.erfc((math.log(x) - math.log(median)) / (sigma * math.sqrt(2)))


def _phi(x: float) -> float:
    return 0.5 * (1 + math.erf(x / math.sqrt(2)))


class Band(Strict):
    up_to: float | None
    factor: float = Field(gt=0)


class Exposure(Sourced):
    measure: Literal["annual_outputs"] = "annual_outputs"
    bands: list[Band] = Field(min_length=1)

    @field_validator("bands")
    @classmethod
    def _ordered(cls, bands: list[Band]) -> list[Band]:
        bounds = [b.up_to for b in bands]
        if bounds[-1] is not None or any(b is None for b in bounds[:-1]):
            raise ValueError("only the last band is open-ended (up_to: null)")
        finite = [b for b in bounds if b is not None]
        if finite != sorted(finite) or len(set(finite)) != len(finite):
            raise ValueError("band limits must increase")
        factors = [b.factor for b in bands]
        if factors != sorted(factors):
            raise ValueError("exposure factors must not decrease with volume")
        return bands

    def factor(self, outputs: float) -> tuple[float, str]:
        for b in self.bands:
            if b.up_to is None or outputs <= b.up_to:
                return b.factor, f"up to {b.up_to:,.0f}" if b.up_to else "open band"
        raise AssertionError("validated bands end open")


class ScreeningFactor(Sourced):
    reference_hit_rate: float = Field(gt=0, lt=1)
    prior_strength: float = Field(gt=0)
    elasticity: float = Field(gt=0, le=3)
    min_sample: int = Field(ge=1)


class RiskLevels(Sourced):
    high: float = Field(ge=0, le=1)
    medium: float = Field(ge=0, le=1)
    low: float = Field(ge=0, le=1)

    @model_validator(mode="after")
    def _ordered(self) -> RiskLevels:
        if not self.low <= self.medium <= self.high:
            raise ValueError("risk levels must satisfy low <= medium <= high")
        return self


class SeverityClasses(Sourced):
    categories: dict[str, SeverityClass]
    severe_text_run_words: int = Field(ge=8)

    def of(self, category: str) -> SeverityClass:
        return self.categories.get(category.lower(), "major")


class CategoryMix(Sourced):
    relativities: dict[SeverityClass, float]
    reference_mix: dict[SeverityClass, float]

    @model_validator(mode="after")
    def _valid(self) -> CategoryMix:
        for name in ("relativities", "reference_mix"):
            if set(getattr(self, name)) != set(SEVERITY_CLASSES):
                raise ValueError(f"{name} needs {list(SEVERITY_CLASSES)}")
        if abs(sum(self.reference_mix.values()) - 1) > 1e-6:
            raise ValueError("reference_mix must sum to 1")
        r = self.relativities
        if not 0 < r["minor"] <= r["major"] <= r["severe"]:
            raise ValueError("relativities must satisfy 0 < minor <= major <= severe")
        return self


class Jurisdiction(Sourced):
    relativities: dict[str, float]

    @field_validator("relativities")
    @classmethod
    def _other(cls, r: dict[str, float]) -> dict[str, float]:
        if "OTHER" not in r or any(v <= 0 for v in r.values()):
            raise ValueError("relativities need an OTHER entry and positive values")
        return r

    def of(self, code: str) -> float:
        return self.relativities.get(code.upper(), self.relativities["OTHER"])


class ScheduleItem(Strict):
    credit: float | None = Field(default=None, le=0, ge=-1)
    debit: float | None = Field(default=None, ge=0, le=1)
    describe: str = ""

    @model_validator(mode="after")
    def _one(self) -> ScheduleItem:
        if (self.credit is None) == (self.debit is None):
            raise ValueError("a schedule item has exactly one of credit or debit")
        return self

    @property
    def amount(self) -> float:
        return self.credit if self.credit is not None else float(self.debit or 0.0)


class Schedule(Sourced):
    cap: float = Field(gt=0, le=0.5)
    items: dict[str, ScheduleItem]


class Experience(Sourced):
    credibility_k: float = Field(gt=0)
    expected_claims_per_year: float = Field(gt=0)
    max_mod: float = Field(ge=1)
    min_mod: float = Field(gt=0, le=1)
    #: claims that give the ledger's severity fit half credibility (plan update)
    severity_credibility_k: float = Field(gt=0)
    #: posterior hit-rate band edges, for the ledger's segments
    hit_rate_bands: list[float] = Field(min_length=1)

    @field_validator("hit_rate_bands")
    @classmethod
    def _edges(cls, edges: list[float]) -> list[float]:
        if edges != sorted(set(edges)) or not all(0 < x < 1 for x in edges):
            raise ValueError("hit_rate_bands must increase strictly within (0, 1)")
        return edges


class PortfolioModel(Sourced):
    """How a book's policies share events (screening/underwriting/portfolio.py)."""

    shared_share: float = Field(ge=0, le=1)
    concentration: float = Field(gt=0, le=1)


class Appetite(Sourced):
    """Where the plan stops quoting: above these it refers (a person decides) or declines."""

    max_rate_on_line: float = Field(gt=0, le=1)
    max_loss_to_limit: float = Field(gt=0, le=1)
    decline_hit_rate: float = Field(gt=0, le=1)


class Expenses(Sourced):
    fixed: float = Field(ge=0)
    variable: float = Field(ge=0, lt=1)
    profit: float = Field(ge=-0.5, lt=1)

    @model_validator(mode="after")
    def _room(self) -> Expenses:
        if self.variable + self.profit >= 0.9:
            raise ValueError("variable expense + profit must stay below 90% of premium")
        return self


class Fx(Sourced):
    rates: dict[str, float]
    as_of: date


class ReferenceSample(Strict):
    outputs: int = Field(ge=1)
    weighted_hits: float = Field(ge=0)


class ReferenceApplicant(Sourced):
    limit: float = Field(gt=0)
    deductible: float = Field(ge=0)
    premium: float = Field(gt=0)
    applicant: dict
    sample: ReferenceSample
    #: true: the base loss cost is solved from this premium (`ipscreen plan check` holds the
    #: plan to it); false once the plan has learnt from claims and moved away from it
    pinned: bool = True


class RatingPlan(Strict):
    plan_id: str = Field(min_length=1, max_length=100)
    version: str
    effective_date: date
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    description: str = ""
    base_loss_cost: BaseLossCost
    severity: Severity
    exposure: Exposure
    screening: ScreeningFactor
    risk_levels: RiskLevels
    severity_classes: SeverityClasses
    category_mix: CategoryMix
    jurisdiction: Jurisdiction
    schedule: Schedule
    experience: Experience
    appetite: Appetite
    portfolio: PortfolioModel
    expenses: Expenses
    fx: Fx
    reference_applicant: ReferenceApplicant
    #: SHA-256 of the file's bytes (set by load_plan, not by the file).
    sha256: str = Field(default="", exclude=True)

    @field_validator("version")
    @classmethod
    def _semver(cls, v: str) -> str:
        if not re.fullmatch(r"\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.-]+)?", v):
            raise ValueError("version must be semantic (MAJOR.MINOR.PATCH)")
        return v


def default_plan_path() -> Path:
    return Path(str(resources.files("plans").joinpath("default.yaml")))


def read_yaml_mapping(data: bytes, where: str, what: str) -> dict:
    """A YAML mapping from UTF-8 bytes (plans, applicants), or InvalidInputError."""
    try:
        raw = yaml.safe_load(data.decode("utf-8"))
    except (UnicodeDecodeError, yaml.YAMLError) as exc:
        raise InvalidInputError(f"{where}: not a readable YAML file ({exc})") from None
    if not isinstance(raw, dict):
        raise InvalidInputError(f"{where}: {what} is a YAML mapping of fields")
    return raw


def parse_plan(data: bytes, where: str = "plan") -> RatingPlan:
    """A validated plan from YAML bytes; InvalidInputError names the first bad field."""
    raw = read_yaml_mapping(data, where, "a plan")
    try:
        plan = RatingPlan.model_validate(raw)
    except ValidationError as exc:
        raise InvalidInputError(f"{where}: {first_validation_error(exc.errors())}") from None
    return plan.model_copy(update={"sha256": hashlib.sha256(data).hexdigest()})


def load_plan(path: Path | None = None) -> RatingPlan:
    path = path or default_plan_path()
    data = read_file_limited(path, MAX_YAML_BYTES, "a rating plan")
    return parse_plan(data, str(path))
