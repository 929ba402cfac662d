"""Licences resource: a tenant records, lists and ends the licences that set works aside.

Recording or ending one needs the `licence` scope, so the key that screens a tenant's
outputs cannot clear them; reading them needs `screen` or `licence`. A licence states its
evidence and term (screening/licences.py), applies only while the term runs, and every
change is audited with that evidence.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import date
from typing import Any, Literal, TypeVar

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field, ValidationInfo, field_validator

from api.deps import LicenceKey, LicenceReaderKey, StateDep
from api.state import ServiceState
from api.strict_json import StrictJSONRoute
from screening.access import KeyInfo
from screening.errors import InvalidInputError
from screening.licences import LicenceTerms, check_field, check_term, check_territory

router = APIRouter(tags=["licences"], route_class=StrictJSONRoute)
T = TypeVar("T")

LICENCE_EXAMPLE: dict[str, Any] = {
    "external_id": "TSU-0001", "licensor": "Tsuburaya Productions",
    "contract_ref": "TP-2026-0142", "valid_from": "2026-01-01", "perpetual": False,
    "expires": "2027-12-31", "territory": ["CN", "JP"], "media": "image"}


def _checked(field: str, check: Callable[..., T], *args: Any) -> T:
    """A screening check as a pydantic validator: its InvalidInputError becomes the field's
    422 problem (`body.FIELD: ...`)."""
    try:
        return check(*args)
    except InvalidInputError as exc:
        raise ValueError(str(exc).removeprefix(f"{field}: ")) from None


class LicenceIn(BaseModel):
    """A licence and its evidence. `expires` is required: the last day of the term, or null
    with `perpetual: true`."""

    external_id: str = Field(min_length=1, max_length=200)
    licensor: str = Field(max_length=300, description="Who granted the licence.")
    contract_ref: str = Field(max_length=200, description="The contract's reference.")
    valid_from: date = Field(description="First day of the term (YYYY-MM-DD).")
    perpetual: bool = Field(default=False, description="A licence without end; then "
                            "`expires` is null.")
    expires: date | None = Field(description="Last day of the term (YYYY-MM-DD), included; "
                                 "null only with perpetual: true.")
    territory: str | list[str] = Field(
        description="'worldwide' or two-letter jurisdiction codes (CN, US, EU, ...).")
    media: Literal["image", "text", "all"] = Field(description="The outputs it covers.")

    model_config = {"extra": "forbid", "json_schema_extra": {"examples": [LICENCE_EXAMPLE]}}

    @field_validator("licensor", "contract_ref")
    @classmethod
    def _named(cls, value: str, info: ValidationInfo) -> str:
        name = str(info.field_name)
        return _checked(name, check_field, value, name, 300 if name == "licensor" else 200)

    @field_validator("expires")
    @classmethod
    def _term(cls, value: date | None, info: ValidationInfo) -> date | None:
        if "valid_from" in info.data:  # else valid_from's own error is the one to show
            _checked("expires", check_term, info.data["valid_from"], value,
                     info.data.get("perpetual", False))
        return value

    @field_validator("territory")
    @classmethod
    def _territory(cls, value: str | list[str]) -> str | list[str]:
        codes = _checked("territory", check_territory, value)
        return "worldwide" if codes == ("worldwide",) else list(codes)


class LicencePublic(BaseModel):
    tenant: str
    external_id: str
    licensor: str
    contract_ref: str
    valid_from: str | None
    expires: str | None
    perpetual: bool
    territory: str | list[str] | None
    media: str
    recorded_by: str
    recorded_at: str
    #: "recorded", or "missing": recorded before evidence was required (see `note`)
    evidence: str
    note: str | None = None
    status: Literal["in_force", "expired", "not_yet_valid"]
    since: str

    model_config = {"json_schema_extra": {"examples": [{
        "tenant": "acme-ai", **LICENCE_EXAMPLE, "recorded_by": "3f9a1c2b7d10",
        "recorded_at": "2026-11-22T12:00:00+00:00", "evidence": "recorded",
        "status": "in_force", "since": "2026-11-22T12:00:00+00:00"}]}}


class LicenceList(BaseModel):
    tenant: str
    #: the works set aside today (licences in force)
    external_ids: list[str]
    licences: list[LicencePublic]


@router.post("/v1/licences", response_model=LicencePublic, status_code=201,
             summary="Record a licence your tenant holds, with its evidence: while its term "
             "runs, matches on the work do not count against you",
             responses={409: {"description": "the tenant already holds a licence for it"}})
def add_licence(body: LicenceIn, request: Request, state: StateDep,
                key: LicenceKey) -> LicencePublic:
    state.writer.registry.get(body.external_id)  # 404 for an unknown work
    terms = LicenceTerms.of(licensor=body.licensor, contract_ref=body.contract_ref,
                            valid_from=body.valid_from, expires=body.expires,
                            territory=body.territory, media=body.media,
                            perpetual=body.perpetual)
    held = state.access.add_licence(key.tenant, body.external_id, terms, key.prefix)
    _audit_licence(request, state, key, held, "licence_added")
    return LicencePublic(tenant=key.tenant, **held)


@router.delete("/v1/licences/{external_id:path}", summary="End a licence: the work counts "
               "against your tenant again", responses={404: {"description": "no such licence"}})
def remove_licence(external_id: str, request: Request, state: StateDep,
                   key: LicenceKey) -> dict:
    ended = state.access.remove_licence(key.tenant, external_id)
    _audit_licence(request, state, key, ended, "licence_removed")
    return {"tenant": key.tenant, "external_id": external_id, "removed": True}


def _audit_licence(request: Request, state: ServiceState, key: KeyInfo, licence: dict,
                   what: str) -> None:
    """A licence changes what counts against a tenant, so the audit table records who
    changed it, when, and on which evidence (under `licence`). The work is named in the
    entry's `licensed` list, where the audit is searched by work; the request itself is kept
    only with STORE_INPUTS, as for every other route."""
    external_id = licence["external_id"]
    data = external_id.encode("utf-8")
    evidence = {k: v for k, v in licence.items() if k not in ("external_id", "since")}
    state.access.audit(request.state.request_id, key, "licences",
                       hashlib.sha256(data).hexdigest(), what, 0.0, {},
                       data if state.settings.store_inputs else None,
                       {"matches": [], "licensed": [external_id],  # found by the work
                        "licence": evidence})


@router.get("/v1/licences", response_model=LicenceList,
            summary="Your tenant's licences with their evidence and status")
def list_licences(state: StateDep, key: LicenceReaderKey) -> LicenceList:
    held = state.access.licences(key.tenant)
    return LicenceList(tenant=key.tenant,
                       external_ids=[h["external_id"] for h in held
                                     if h["status"] == "in_force"],
                       licences=[LicencePublic(tenant=key.tenant, **h) for h in held])
