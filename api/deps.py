"""Dependencies shared by the routes: service state, the caller's key (scope and rate limit
checked), the current screeners."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request

from api.problems import NotReady, TooManyRequests
from api.state import Screeners, ServiceState
from screening.access import KeyInfo


def get_state(request: Request) -> ServiceState:
    state: ServiceState = request.app.state.service
    return state


StateDep = Annotated[ServiceState, Depends(get_state)]


def _presented_key(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return request.headers.get("x-api-key")


def require(scope: str | tuple[str, ...] | None) -> Callable[..., KeyInfo]:
    """A dependency that verifies the request's key, that it has `scope` (one of them, for a
    tuple; None: any valid key) and its rate limit."""
    def dependency(request: Request, state: StateDep) -> KeyInfo:
        key = state.access.verify(_presented_key(request))
        if scope is not None:
            state.access.require(key, scope)
        wait = request.app.state.limiter.take(key.prefix, key.rate_per_minute)
        if wait:
            raise TooManyRequests(wait)
        request.state.key = key
        return key

    return dependency


def _evidence_key(request: Request, state: StateDep) -> KeyInfo:
    return require(state.settings.evidence_scope)(request, state)


ScreenKey = Annotated[KeyInfo, Depends(require("screen"))]
#: The scope set by EVIDENCE_SCOPE (evidence shows registered works themselves).
EvidenceKey = Annotated[KeyInfo, Depends(_evidence_key)]
RegisterKey = Annotated[KeyInfo, Depends(require("register"))]
UnderwriteKey = Annotated[KeyInfo, Depends(require("underwrite"))]
#: Recording and ending licences: not `screen`, whose key screens the outputs a licence
#: would clear (screening/access.py SCOPES).
LicenceKey = Annotated[KeyInfo, Depends(require("licence"))]
LicenceReaderKey = Annotated[KeyInfo, Depends(require(("screen", "licence")))]
AnyKey = Annotated[KeyInfo, Depends(require(None))]


def get_screeners(state: StateDep) -> Screeners:
    current = state.current
    if current is None:
        raise NotReady(state.not_ready_detail() or "models and indexes are still loading")
    return current


ScreenersDep = Annotated[Screeners, Depends(get_screeners)]


#: How many of a decision's best matches its audit entry names.
AUDITED_MATCHES = 5


def record_decision(state: ServiceState, request: Request, route: str, key: KeyInfo,
                    data: bytes, result: dict) -> None:
    """Append a screening decision to the audit table: who, which route, the SHA-256 of the
    input (the input itself only with STORE_INPUTS), the decision, its versions, and the
    works it was about (the best matches with their scores; licensed ones apart, with the
    evidence of the licence that set each aside, under `licensed_matches`). A review
    or block decision also becomes a case for the workbench's queue (the input kept for
    review only, for REVIEW_RETENTION_DAYS)."""
    digest = hashlib.sha256(data).hexdigest()
    state.cases.keep(request.state.request_id, key, route, result, data, digest)
    state.access.audit(request.state.request_id, key, route, digest,
                       result.get("decision", "error"), float(result.get("risk_score", 0.0)),
                       result.get("versions", {}),
                       data if state.settings.store_inputs else None,
                       audited_matches(result))


def audited_matches(result: dict) -> dict:
    """The works a decision was about, as its audit entry names them (AccessStore.audit)."""
    licensed = result.get("licensed_matches", [])
    named: dict = {"matches": [{"external_id": m["external_id"], "score": m["score"]}
                               for m in result.get("matches", [])[:AUDITED_MATCHES]],
                   "licensed": [m["external_id"] for m in licensed]}
    if licensed:  # the underwriter's sample (screening/review/sample.py) reads them back
        named["licensed_matches"] = [{"external_id": m["external_id"], "score": m["score"],
                                      "licence": m.get("licence")}
                                     for m in licensed[:AUDITED_MATCHES]]
    return named
