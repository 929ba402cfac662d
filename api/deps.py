"""Dependencies shared by the routes: service state, the caller's key (scope and rate limit
checked), the current screeners."""

from __future__ import annotations

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


def require(scope: str) -> Callable[..., KeyInfo]:
    def dependency(request: Request, state: StateDep) -> KeyInfo:
        key = state.access.verify(_presented_key(request))
        state.access.require(key, scope)
        wait = request.app.state.limiter.take(key.prefix, key.rate_per_minute)
        if wait:
            raise TooManyRequests(wait)
        request.state.key = key
        return key

    return dependency


ScreenKey = Annotated[KeyInfo, Depends(require("screen"))]
RegisterKey = Annotated[KeyInfo, Depends(require("register"))]
UnderwriteKey = Annotated[KeyInfo, Depends(require("underwrite"))]


def get_screeners(state: StateDep) -> Screeners:
    if state.current is None:
        raise NotReady("models and indexes are still loading"
                       + (f" (last attempt failed: {state.load_error})"
                          if state.load_error else ""))
    return state.current


ScreenersDep = Annotated[Screeners, Depends(get_screeners)]
