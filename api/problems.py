"""Every error as an RFC 9457 application/problem+json response, in one place.

Typed errors from screening/ map to 4xx statuses; a request that fails validation is a 422
naming the field; anything unexpected is a 500 problem that says nothing internal (and is a
bug: the tests and the schemathesis run look for it).
"""

from __future__ import annotations

import sys
import traceback
from http import HTTPStatus

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.jobs import JobsBusy
from screening.errors import (
    AuthenticationError,
    ConflictError,
    DataDirError,
    ImageDecodeError,
    InvalidInputError,
    IpscreenError,
    ModelError,
    NotFoundError,
    PermissionDeniedError,
    first_validation_error,
    storage_failure,
)

PROBLEM = "application/problem+json"


class TooManyRequests(Exception):
    def __init__(self, retry_after: float) -> None:
        self.retry_after = retry_after


class NotReady(Exception):
    def __init__(self, detail: str) -> None:
        self.detail = detail


def problem(status: int, title: str, detail: str, request: Request | None = None,
            headers: dict[str, str] | None = None) -> Response:
    if request is not None and request.url.path.startswith("/ui/") \
            and not request.url.path.startswith("/ui/static/"):
        from api.ui.session import error_page  # the workbench's pages answer in HTML

        page = error_page(request, status, title, detail)
        for k, v in (headers or {}).items():
            if k.lower() != "www-authenticate":
                page.headers[k] = v
        return page
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    if request is not None:
        body["instance"] = request.url.path
        rid = getattr(request.state, "request_id", None)
        if rid:
            body["request_id"] = rid
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


_STATUSES = {s.value for s in HTTPStatus}
STATUS = [
    (AuthenticationError, 401, "Unauthorized"),
    (PermissionDeniedError, 403, "Forbidden"),
    (NotFoundError, 404, "Not Found"),
    (ConflictError, 409, "Conflict"),
    (InvalidInputError, 400, "Bad Request"),
    (ImageDecodeError, 400, "Bad Request"),
    (DataDirError, 503, "Service Unavailable"),
    (ModelError, 503, "Service Unavailable"),
    (IpscreenError, 400, "Bad Request"),
]


def storage_problem(request: Request, exc: BaseException) -> Response:
    """507 when the server's storage is out of space (a full disk or quota), 503 when it
    refused a write otherwise (read-only, failing); never the client's fault."""
    failure = storage_failure(exc)
    assert failure is not None
    detail, space = failure
    return problem(507 if space else 503,
                   "Insufficient Storage" if space else "Service Unavailable",
                   detail, request,
                   None if space else {"Retry-After": "30"})


def install(app: FastAPI) -> None:
    async def typed(request: Request, exc: Exception) -> Response:
        for cls, status, title in STATUS:
            if isinstance(exc, cls):
                headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
                return problem(status, title, str(exc), request, headers)
        return problem(400, "Bad Request", str(exc), request)

    async def validation(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        return problem(422, "Unprocessable Content", first_validation_error(exc.errors()),
                       request)

    async def http(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        cause = exc.__cause__
        if cause is not None and storage_failure(cause) is not None:
            # FastAPI answers 400 "error parsing the body" for any failure while reading
            # it, a full disk under the multipart spool included: that is the server's
            return storage_problem(request, cause)
        title = HTTPStatus(exc.status_code).phrase if exc.status_code in _STATUSES else \
            str(exc.detail)
        return problem(exc.status_code, title, str(exc.detail), request,
                       dict(exc.headers) if exc.headers else None)

    async def limited(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, TooManyRequests)
        secs = str(int(exc.retry_after))
        return problem(429, "Too Many Requests", f"rate limit reached; retry in {secs} s",
                       request, {"Retry-After": secs})

    async def not_ready(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, NotReady)
        return problem(503, "Service Unavailable", exc.detail, request, {"Retry-After": "5"})

    async def unexpected(request: Request, exc: Exception) -> Response:
        traceback.print_exception(exc, file=sys.stderr)
        return problem(500, "Internal Server Error", "unexpected error; it has been logged",
                       request)

    async def storage(request: Request, exc: Exception) -> Response:
        """OSError and database errors: when the machine's storage refused a write, say so
        (507 / 503); anything else of the kind is unexpected."""
        if storage_failure(exc) is None:
            return await unexpected(request, exc)
        traceback.print_exception(exc, file=sys.stderr)
        return storage_problem(request, exc)

    for cls, _, _ in STATUS:
        app.add_exception_handler(cls, typed)
    app.add_exception_handler(RequestValidationError, validation)
    app.add_exception_handler(StarletteHTTPException, http)
    app.add_exception_handler(TooManyRequests, limited)
    app.add_exception_handler(NotReady, not_ready)
    async def busy(request: Request, exc: Exception) -> Response:
        return problem(503, "Service Unavailable", str(exc), request, {"Retry-After": "30"})

    app.add_exception_handler(JobsBusy, busy)
    app.add_exception_handler(OSError, storage)
    app.add_exception_handler(OperationalError, storage)
    app.add_exception_handler(Exception, unexpected)
