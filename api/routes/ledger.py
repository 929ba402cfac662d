"""The ledger: policies bound from quotes and claims against them (the `underwrite` scope).

A key sees and changes its own tenant's book (the policies written through its tenant's
keys); `admin` sees every book. Every change is audited (screening/ledger/store.py).
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from api.deps import StateDep, UnderwriteKey
from api.state import ServiceState
from api.strict_json import StrictJSONRoute
from screening.access import KeyInfo
from screening.errors import InvalidInputError, NotFoundError
from screening.ledger.records import ClaimChange, ClaimIn, PolicyIn, parse, policy_from_quote
from screening.ledger.store import Actor, LedgerStore

router = APIRouter(tags=["ledger"], route_class=StrictJSONRoute)


class BindRequest(BaseModel):
    policy_no: str = Field(min_length=1, max_length=100)
    period_start: date
    period_end: date | None = None
    quote: dict[str, Any] | None = Field(default=None, description="A quote from POST "
                                         "/v1/pricing/quote (decision quote) ...")
    policy: dict[str, Any] | None = Field(default=None, description="... or the policy's "
                                          "fields (an existing book), as in a policies CSV.")


def _store(state: ServiceState) -> LedgerStore:
    return LedgerStore(state.writer.registry.engine)


def _actor(request: Request, key: KeyInfo) -> Actor:
    return Actor(request.state.request_id, key.tenant, key.prefix)


def _book(key: KeyInfo) -> str | None:
    return None if key.allows("admin") else key.tenant


@router.post("/v1/policies", status_code=201, summary="Bind a quote (or record a policy)",
             responses={409: {"description": "the policy number exists"}})
def bind(body: BindRequest, request: Request, state: StateDep, key: UnderwriteKey) -> dict:
    if (body.quote is None) == (body.policy is None):
        raise InvalidInputError("give either quote or policy")
    if body.quote is not None:
        p = policy_from_quote(body.quote, body.policy_no, body.period_start, key.tenant,
                              body.period_end)
    else:
        p = parse(PolicyIn, {**(body.policy or {}), "policy_no": body.policy_no,
                             "tenant": key.tenant, "period_start": body.period_start,
                             "period_end": body.period_end}, "policy")
    return _store(state).bind(p, _actor(request, key))


@router.get("/v1/policies", summary="Your book's policies, by start date")
def list_policies(state: StateDep, key: UnderwriteKey,
                  applicant: Annotated[str | None, Query(max_length=300)] = None,
                  status: Annotated[str | None, Query(pattern="^(bound|cancelled)$")] = None,
                  limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
                  offset: Annotated[int, Query(ge=0)] = 0) -> dict:
    return {"policies": _store(state).policies(_book(key), applicant, status, limit, offset)}


@router.get("/v1/policies/{policy_no}", summary="A policy with its claims",
            responses={404: {"description": "no such policy in your book"}})
def get_policy(policy_no: str, state: StateDep, key: UnderwriteKey) -> dict:
    return _store(state).policy(policy_no, _book(key))


@router.post("/v1/policies/{policy_no}/cancel", summary="Cancel a policy")
def cancel_policy(policy_no: str, request: Request, state: StateDep,
                  key: UnderwriteKey) -> dict:
    store = _store(state)
    store.policy(policy_no, _book(key))  # 404 outside the key's book
    return store.cancel(policy_no, _actor(request, key))


@router.post("/v1/claims", status_code=201, summary="Record a claim against a policy",
             responses={409: {"description": "the claim number exists"}})
def add_claim(body: ClaimIn, request: Request, state: StateDep, key: UnderwriteKey) -> dict:
    store = _store(state)
    store.policy(body.policy_no, _book(key))
    if body.external_id and not (body.owner and body.category):
        try:  # the registered work's record fills what the claim leaves blank
            rec = state.writer.registry.get(body.external_id)
            body = body.model_copy(update={
                "owner": body.owner or rec.owner, "category": body.category or rec.category,
                "jurisdiction": body.jurisdiction or rec.jurisdiction})
        except NotFoundError:
            pass
    return store.add_claim(body, _actor(request, key))


@router.patch("/v1/claims/{claim_no}", summary="Change a claim's amounts, status or note")
def change_claim(claim_no: str, body: ClaimChange, request: Request, state: StateDep,
                 key: UnderwriteKey) -> dict:
    return _store(state).change_claim(claim_no, body, _actor(request, key), _book(key))


@router.get("/v1/claims", summary="Your book's claims, by loss date")
def list_claims(state: StateDep, key: UnderwriteKey,
                policy_no: Annotated[str | None, Query(max_length=100)] = None,
                status: Annotated[str | None, Query(
                    pattern="^(open|closed|denied|withdrawn)$")] = None) -> dict:
    return {"claims": _store(state).claims(policy_no, status, _book(key))}


@router.get("/v1/portfolio", summary="Your book's annual aggregate loss, with and without "
            "the events its policies share")
def portfolio(state: StateDep, key: UnderwriteKey,
              as_of: Annotated[date | None, Query(description="default: today")] = None,
              years: Annotated[int, Query(ge=1_000, le=200_000)] = 20_000,
              seed: Annotated[int, Query(ge=0)] = 0) -> dict:
    from screening.ledger.book import book_risk

    risk = book_risk(_store(state).experience(_book(key)), state.plan,
                     as_of or date.today(), years, seed)
    return {k: v for k, v in risk.items() if k != "curve"}


@router.get("/v1/experience", summary="What your book's claims say about the plan in force: "
            "the experience and the changes `ipscreen plan update --from-claims` would make")
def experience_report(state: StateDep, key: UnderwriteKey,
                      as_of: Annotated[date | None, Query(description="default: today")]
                      = None) -> dict:
    from screening.ledger.experience import experience
    from screening.ledger.update import update_plan

    day = as_of or date.today()
    exp = experience(_store(state).experience(_book(key)), state.plan, day)
    new, changes, _ = update_plan(state.plan, exp, day)
    return {"plan": {"plan_id": state.plan.plan_id, "version": state.plan.version,
                     "sha256": state.plan.sha256},
            "experience": exp.to_dict(), "changes": changes,
            "proposed_version": new.version if changes else None}
