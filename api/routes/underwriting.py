"""Underwriting and pricing: screening results -> risk profile; profile + applicant -> quote."""

from __future__ import annotations

import hashlib
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from api.deps import StateDep, UnderwriteKey
from api.strict_json import StrictJSONRoute
from screening.errors import InvalidInputError
from screening.underwriting.applicant import parse_applicant
from screening.underwriting.pricing import SampleSummary, quote
from screening.underwriting.profile import build_profile, validate_result
from screening.underwriting.underwrite import underwrite

router = APIRouter(tags=["underwriting"], route_class=StrictJSONRoute)

RESULT_EXAMPLE: dict[str, Any] = {"input": "out-1.txt", "decision": "clear", "risk_score": 0.0,
                  "matches": [], "versions": {"kind": "text", "index_revision": 12}}
APPLICANT_EXAMPLE: dict[str, Any] = {"name": "Example assistant", "annual_outputs": 2500000,
                     "jurisdictions": {"CN": 0.7, "US": 0.2, "EU": 0.1},
                     "controls": ["pre_release_filter"],
                     "claims_history": {"years": 2, "claims": 1}}


class ProfileRequest(BaseModel):
    results: list[dict] = Field(min_length=1, description="Screening results, as returned "
                                "by /v1/screen/* or printed by `ipscreen screen --json`.")
    index_revision: int | None = Field(default=None, description="Refuse results screened "
                                       "against another index revision.")

    model_config = {"json_schema_extra": {"examples": [{"results": [RESULT_EXAMPLE]}]}}


class ProfileSummary(BaseModel):
    outputs: int = Field(ge=1)
    expected_hits: float = Field(ge=0)
    severity_mix: dict[str, float] = Field(default_factory=dict)


class QuoteRequest(BaseModel):
    applicant: dict = Field(description="The applicant (fields as in "
                            "plans/example-applicant.yaml).")
    limit: float = Field(gt=0, le=1e11, description="Per claim.")
    aggregate_limit: float | None = Field(default=None, gt=0, le=1e11, description="The "
                                          "most paid in a year (default: the limit).")
    deductible: float = Field(default=0, ge=0)
    currency: str | None = Field(default=None, pattern=r"^[A-Za-z]{3}$")
    results: list[dict] | None = Field(default=None, description="Screening results (a "
                                       "profile is built from them) ...")
    profile: ProfileSummary | None = Field(default=None, description="... or a profile "
                                           "summary from /v1/underwriting/profile.")
    index_revision: int | None = None

    model_config = {"json_schema_extra": {"examples": [
        {"applicant": APPLICANT_EXAMPLE, "limit": 700000, "deductible": 10000,
         "currency": "CNY", "profile": {"outputs": 400, "expected_hits": 3.2,
                                        "severity_mix": {"severe": 0.2, "major": 0.7,
                                                         "minor": 0.1}}}]}}


def _results(results: list[dict], limit: int) -> list[dict]:
    if len(results) > limit:
        raise InvalidInputError(f"{len(results)} results; at most {limit} (setting "
                                "IPSCREEN_MAX_SAMPLE)")
    return [validate_result(r, f"results[{i}]") for i, r in enumerate(results)]


@router.post("/v1/underwriting/profile", summary="Risk profile of a sample of outputs")
def profile(request: Request, body: ProfileRequest, state: StateDep,
            key: UnderwriteKey) -> dict:
    p = build_profile(_results(body.results, state.settings.max_sample), state.plan,
                      body.index_revision)
    return {"request_id": request.state.request_id, "plan": {
        "plan_id": state.plan.plan_id, "version": state.plan.version,
        "sha256": state.plan.sha256}, "profile": p.to_dict()}


@router.post("/v1/pricing/quote", summary="Premium, factors and rating worksheet")
def price(request: Request, body: QuoteRequest, state: StateDep, key: UnderwriteKey) -> dict:
    applicant = parse_applicant(body.applicant, "applicant")
    if body.results is not None:  # the CLI's underwriting job, one code path
        _, q = underwrite(_results(body.results, state.settings.max_sample), applicant,
                          state.plan, body.limit, body.deductible, body.currency,
                          body.index_revision, body.aggregate_limit)
    elif body.profile is not None:
        if body.profile.expected_hits > body.profile.outputs:
            raise InvalidInputError("profile.expected_hits exceeds profile.outputs")
        sample = SampleSummary(body.profile.outputs, body.profile.expected_hits,
                               body.profile.severity_mix)
        q = quote(state.plan, applicant, sample, body.limit, body.deductible, body.currency,
                  aggregate_limit=body.aggregate_limit)
        q.profile = body.profile.model_dump()
    else:
        raise InvalidInputError("give either results or profile")
    out = q.to_dict()
    versions = q.screening_versions
    digest = hashlib.sha256(body.model_dump_json().encode()).hexdigest()
    state.access.audit(request.state.request_id, key, "pricing/quote", digest,
                       q.audited_as, q.premium,
                       {"plan": out["plan"], "screening": versions},
                       body.model_dump_json().encode() if state.settings.store_inputs
                       else None)
    return {"request_id": request.state.request_id, **out}



