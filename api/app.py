"""The ipscreen HTTP service: create_app(settings) -> FastAPI.

Models and indexes load once in the lifespan (see api/state.py for how they are replaced when
the registry changes); routes are thin doors onto the same screening functions as the CLI.
Run it with `ipscreen serve` (uvicorn, one or more workers).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from api.jobs import JobStore
from api.metrics import Metrics
from api.middleware import BodyLimit, RequestContext
from api.problems import install
from api.ratelimit import RateLimiter, rate_limiter
from api.routes import audit, evidence, health, ledger, licences, screen, underwriting, works
from api.settings import ApiSettings, get_api_settings
from api.state import ServiceState
from api.ui import install as install_workbench

DESCRIPTION = """Screen AI-generated images and text against registered works, manage the
registry, and turn screening results into risk profiles and premiums.

Authenticate with an API key (`ipscreen keys create`) sent as `Authorization: Bearer <key>`
or `X-API-Key: <key>`. Scopes: `screen`, `register`, `underwrite`, `admin` (all). Every
error is an `application/problem+json` document."""


def create_app(settings: ApiSettings | None = None) -> FastAPI:
    settings = settings or get_api_settings()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state = ServiceState.open(settings)
        app.state.service = state
        app.state.limiter = rate_limiter(state.writer.registry.engine)
        state.start()
        try:
            yield
        finally:
            state.stop()

    app = FastAPI(title="ipscreen", version="0.1.0", description=DESCRIPTION,
                  lifespan=lifespan)
    metrics = Metrics()
    app.state.metrics = metrics
    app.state.limiter = RateLimiter()
    app.state.jobs = JobStore(max_pending=settings.max_pending_jobs)
    install(app)
    for router in (screen.router, evidence.router, works.router, licences.router,
                   underwriting.router, ledger.router, audit.router, health.router):
        app.include_router(router)
    install_workbench(app)
    app.add_middleware(BodyLimit, limit=settings.max_request_bytes)
    app.add_middleware(RequestContext, metrics=metrics)
    return app


def app_from_env() -> FastAPI:
    """Factory for uvicorn (`ipscreen serve`): settings from IPSCREEN_* variables."""
    return create_app(ApiSettings())
