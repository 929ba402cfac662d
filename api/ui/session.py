"""The workbench's sign-in, CSRF protection and page rendering.

A reviewer signs in once with an API key; the browser then holds a random session token in
an HTTP-only, SameSite=Strict cookie (Secure unless UI_SECURE_COOKIE is off), never the key.
Every page checks the key behind the session again (revoked or expired ends it) and its
scope, as the JSON API does; every form carries the session's CSRF token, checked in
constant time. Pages are Jinja2 templates with autoescaping, served with a Content Security
Policy that allows only this server's own scripts, styles and images.
"""

from __future__ import annotations

import base64
import hmac
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from api.deps import StateDep
from api.problems import TooManyRequests
from screening.access import KeyInfo
from screening.errors import AuthenticationError, PermissionDeniedError

COOKIE = "ipscreen_session"
LOGIN_COOKIE = "ipscreen_login"
HERE = Path(__file__).parent
TEMPLATES = Environment(loader=FileSystemLoader(HERE / "templates"),
                        autoescape=select_autoescape(("html",)), trim_blocks=True,
                        lstrip_blocks=True)
TEMPLATES.filters["b64"] = lambda text: base64.b64encode(text.encode("utf-8")).decode()
#: Only this server's own resources; no inline script (the CSRF token reaches scripts
#: through a meta tag), no framing (clickjacking), forms post back here only.
CSP = ("default-src 'self'; img-src 'self' data:; script-src 'self'; style-src 'self'; "
       "frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
HEADERS = {"Content-Security-Policy": CSP, "X-Frame-Options": "DENY",
           "X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin",
           "Cache-Control": "no-store"}


class SignInRequired(Exception):
    """No valid session: pages redirect to the login page."""

    def __init__(self, next_url: str) -> None:
        self.next_url = next_url


@dataclass(frozen=True)
class Viewer:
    key: KeyInfo
    csrf: str

    @property
    def tenant_filter(self) -> str | None:
        """The tenant whose cases this viewer sees (None: all; admin keys only)."""
        return None if "admin" in self.key.scopes else self.key.tenant


def render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    viewer = getattr(request.state, "viewer", None)
    page = TEMPLATES.get_template(template).render(request=request, viewer=viewer, **context)
    return HTMLResponse(page, status_code=status, headers=HEADERS)


def error_page(request: Request, status: int, title: str, detail: str) -> Response:
    if status == 401:
        return sign_in_redirect(request.url.path)
    return render(request, "error.html", status=status, title=title, detail=detail)


def sign_in_redirect(next_url: str) -> RedirectResponse:
    return RedirectResponse(f"/ui/login?next={quote(safe_next(next_url))}", status_code=303)


def safe_next(url: str | None) -> str:
    """Where to go after signing in: a workbench path only (never another site)."""
    if not url or not url.startswith("/ui/") or url.startswith("//") or "\\" in url:
        return "/ui/queue"
    return url


def viewer(scope: str | None) -> Any:
    """A dependency: the signed-in viewer, whose key still holds and has `scope`."""
    def dependency(request: Request, state: StateDep) -> Viewer:
        signed = state.sessions.find(request.cookies.get(COOKIE))
        if signed is None:
            raise SignInRequired(str(request.url.path))
        try:
            key = state.access.by_prefix(signed.key_prefix)
        except AuthenticationError:
            raise SignInRequired(str(request.url.path)) from None
        request.state.viewer = Viewer(key, signed.csrf)
        if scope is not None and not key.allows(scope):
            raise PermissionDeniedError(f"this key lacks the {scope!r} scope (it has: "
                                        f"{', '.join(key.scopes)})")
        wait = request.app.state.limiter.take(key.prefix, key.rate_per_minute)
        if wait:
            raise TooManyRequests(wait)
        request.state.key = key
        return request.state.viewer

    return Depends(dependency)


def evidence_viewer(request: Request, state: StateDep) -> Viewer:
    """The viewer with the scope the evidence routes need (cases show registered works)."""
    dep = viewer(state.settings.evidence_scope).dependency
    result: Viewer = dep(request, state)
    return result


AnyViewer = Annotated[Viewer, viewer(None)]
ReviewViewer = Annotated[Viewer, Depends(evidence_viewer)]
RegisterViewer = Annotated[Viewer, viewer("register")]
UnderwriteViewer = Annotated[Viewer, viewer("underwrite")]


def check_csrf(v: Viewer, token: str) -> None:
    if not token or not hmac.compare_digest(token.encode(), v.csrf.encode()):
        raise PermissionDeniedError("the form's CSRF token is missing or wrong; reload the "
                                    "page and submit it again")


CsrfField = Annotated[str, Form(alias="csrf", max_length=200)]
