"""Request ids, per-route metrics and the request size limit, as plain ASGI middleware."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from fastapi import HTTPException

from api.metrics import Metrics

Scope = dict[str, Any]


class RequestContext:
    """Gives every request an id (X-Request-ID in, or a new one; echoed back), counts it and
    times it per route template."""

    def __init__(self, app: Any, metrics: Metrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        given = headers.get(b"x-request-id", b"").decode("latin-1")
        rid = given if given and len(given) <= 64 and given.isprintable() else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = rid
        status = {"code": 500}
        start = time.perf_counter()

        async def send_with_id(message: dict) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                message.setdefault("headers", []).append((b"x-request-id", rid.encode()))
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            route = scope.get("route")
            name = getattr(route, "path", "unmatched")
            self.metrics.requests.labels(name, scope["method"], str(status["code"])).inc()
            self.metrics.latency.labels(name, scope["method"]).observe(
                time.perf_counter() - start)


class BodyLimit:
    """413 problem for bodies over `limit` bytes, by Content-Length or while streaming."""

    def __init__(self, app: Any, limit: int) -> None:
        self.app, self.limit = app, limit

    async def _reject(self, send: Any, scope: Scope) -> None:
        body = json.dumps({"type": "about:blank", "title": "Content Too Large", "status": 413,
                           "detail": f"request body over {self.limit} bytes "
                                     "(setting IPSCREEN_MAX_REQUEST_BYTES)",
                           "instance": scope.get("path", "")}).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/problem+json"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.limit:
            await self._reject(send, scope)
            return
        seen = {"n": 0}

        async def counted() -> dict:
            message: dict = await receive()
            if message["type"] == "http.request":
                seen["n"] += len(message.get("body", b""))
                if seen["n"] > self.limit:
                    # an HTTPException passes FastAPI's body parsing untouched and reaches
                    # the problem+json handler as a 413
                    raise HTTPException(413, f"request body over {self.limit} bytes "
                                             "(setting IPSCREEN_MAX_REQUEST_BYTES)")
            return message

        await self.app(scope, counted, send)
