"""The reviewer's workbench: server-rendered pages under /ui on the same keys and scopes as
the JSON API (see api/ui/session.py for sign-in and CSRF)."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles

from api.ui import login, review, underwriting, works
from api.ui.session import HERE, SignInRequired, sign_in_redirect


def install(app: FastAPI) -> None:
    router = APIRouter()
    for part in (login.router, review.router, works.router, underwriting.router):
        router.include_router(part)
    app.include_router(router)
    app.mount("/ui/static", StaticFiles(directory=HERE / "static"), name="ui-static")

    async def sign_in(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, SignInRequired)
        return sign_in_redirect(exc.next_url)

    app.add_exception_handler(SignInRequired, sign_in)
