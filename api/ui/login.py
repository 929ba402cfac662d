"""Signing in and out of the workbench.

The login form is protected against cross-site posting with a double-submit token (a cookie
and a field that must agree), since there is no session yet to hold one.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from api.deps import StateDep
from api.ui.session import COOKIE, LOGIN_COOKIE, AnyViewer, CsrfField, check_csrf, render, safe_next
from screening.errors import AuthenticationError

router = APIRouter()


def _cookie(response: Response, request: Request, name: str, value: str, max_age: int,
            secure: bool) -> None:
    response.set_cookie(name, value, max_age=max_age, path="/ui", httponly=True,
                        samesite="strict", secure=secure)


@router.get("/ui", include_in_schema=False)
def home() -> RedirectResponse:
    return RedirectResponse("/ui/queue", status_code=303)


@router.get("/ui/login", include_in_schema=False)
def login_form(request: Request, state: StateDep, next: str = "/ui/queue",
               error: str = "") -> Response:
    token = secrets.token_urlsafe(32)
    page = render(request, "login.html", login_csrf=token, next=safe_next(next),
                  error=error, status=401 if error else 200)
    _cookie(page, request, LOGIN_COOKIE, token, 3600, state.settings.ui_secure_cookie)
    return page


@router.post("/ui/login", include_in_schema=False)
def login(request: Request, state: StateDep,
          key: Annotated[str, Form(max_length=500)] = "",
          csrf: Annotated[str, Form(max_length=200)] = "",
          next: Annotated[str, Form(max_length=2000)] = "/ui/queue") -> Response:
    expected = request.cookies.get(LOGIN_COOKIE, "")
    if not csrf or not expected or not hmac.compare_digest(csrf.encode(), expected.encode()):
        return login_form(request, state, next, "The sign-in form expired; try again.")
    try:
        info = state.access.verify(key.strip())
    except AuthenticationError as exc:
        return login_form(request, state, next, f"Not signed in: {exc}.")
    token, _ = state.sessions.open(info.prefix)
    response = RedirectResponse(safe_next(next), status_code=303)
    hours = state.settings.ui_session_hours
    _cookie(response, request, COOKIE, token, int(hours * 3600),
            state.settings.ui_secure_cookie)
    response.delete_cookie(LOGIN_COOKIE, path="/ui")
    return response


@router.post("/ui/logout", include_in_schema=False)
def logout(request: Request, state: StateDep, v: AnyViewer, csrf: CsrfField = "") -> Response:
    check_csrf(v, csrf)
    state.sessions.close(request.cookies.get(COOKIE))
    response = RedirectResponse("/ui/login", status_code=303)
    response.delete_cookie(COOKIE, path="/ui")
    return response
