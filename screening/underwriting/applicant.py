"""What the applicant declares: volumes, where outputs are published, controls, claims."""

from __future__ import annotations

from pathlib import Path

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from screening.errors import InvalidInputError, first_validation_error
from screening.files import read_file_limited
from screening.underwriting.plan import MAX_YAML_BYTES, read_yaml_mapping


class ClaimsHistory(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    years: int = Field(default=0, ge=0, le=50)
    claims: int = Field(default=0, ge=0, le=100_000)

    @model_validator(mode="after")
    def _claims_need_years(self) -> ClaimsHistory:
        # years 0 means "no history", which the plan does not modify for; claims counted over
        # no years were silently dropped that way.
        if self.claims and not self.years:
            raise ValueError(f"{self.claims} claims over 0 years: give the years the claims "
                             "were counted over")
        return self


class Applicant(BaseModel):
    """An applicant for generative-AI content infringement liability cover."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    name: str = Field(min_length=1, max_length=300)
    #: Generated outputs published to users per year.
    annual_outputs: float = Field(gt=0, le=1e13)
    #: Share of outputs published in each jurisdiction (CN, US, EU, UK, ... or OTHER); sums to 1.
    jurisdictions: dict[str, float] = Field(min_length=1)
    #: Controls in place, by the rating plan's schedule item names.
    controls: list[str] = Field(default_factory=list)
    claims_history: ClaimsHistory = Field(default_factory=ClaimsHistory)

    @field_validator("jurisdictions")
    @classmethod
    def _shares(cls, j: dict[str, float]) -> dict[str, float]:
        if any(v < 0 for v in j.values()):
            raise ValueError("jurisdiction shares must be >= 0")
        if abs(sum(j.values()) - 1) > 1e-6:
            raise ValueError(f"jurisdiction shares must sum to 1 (they sum to "
                             f"{sum(j.values()):.4f})")
        return {k.upper(): v for k, v in j.items()}

    @field_validator("controls")
    @classmethod
    def _unique(cls, c: list[str]) -> list[str]:
        if len(set(c)) != len(c):
            raise ValueError("a control is listed twice")
        return c


def parse_applicant(raw: object, where: str = "an applicant file") -> Applicant:
    if not isinstance(raw, dict):
        raise InvalidInputError(f"{where}: an applicant is a mapping of fields")
    try:
        return Applicant.model_validate(raw)
    except ValidationError as exc:
        raise InvalidInputError(f"{where}: {first_validation_error(exc.errors())}") from None


def load_applicant(path: Path) -> Applicant:
    data = read_file_limited(path, MAX_YAML_BYTES, "an applicant file")
    return parse_applicant(read_yaml_mapping(data, str(path), "an applicant"), str(path))
