"""Liveness, readiness and Prometheus metrics (no key needed: for orchestrators)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from api.deps import StateDep
from api.strict_json import StrictJSONRoute

router = APIRouter(tags=["operations"], route_class=StrictJSONRoute)


@router.get("/healthz", summary="The process is alive")
def healthz() -> dict:
    return {"status": "ok"}


@router.get("/readyz", summary="Models and indexes loaded and not too far behind the "
            "registry (503 otherwise)", responses={503: {"description": "not ready"}})
def readyz(state: StateDep) -> JSONResponse:
    head = state.writer.registry.revision()
    cur = state.current
    lag = state.index_lag_s()
    body = {"ready": cur is not None, "registry_revision": head,
            "index_revision": cur.revision if cur else None, "index_lag_s": round(lag, 3),
            "load_error": state.load_error}
    ok = cur is not None and lag <= state.settings.max_index_lag_s
    if not ok:
        body["detail"] = state.not_ready_detail() or (
            f"loaded index is {lag:.0f} s behind the registry"
            + (f"; the last reload failed: {state.load_error}" if state.load_error else ""))
    return JSONResponse(body, status_code=200 if ok else 503)


@router.get("/metrics", summary="Prometheus metrics")
def metrics(request: Request, state: StateDep) -> Response:
    m = request.app.state.metrics
    m.registry_revision.set(state.writer.registry.revision())
    cur = state.current
    if cur is not None:
        m.index_revision.set(cur.revision)
        for screener in cur.image.values():
            for name, index in screener.indexes.items():
                m.index_vectors.labels(name).set(index.ntotal)
        m.index_vectors.labels("text_fingerprint").set(cur.text.fingerprints.ntotal)
        if cur.text.window_index is not None:
            m.index_vectors.labels("text_windows").set(cur.text.window_index.ntotal)
    return Response(generate_latest(m.registry), media_type=CONTENT_TYPE_LATEST)
