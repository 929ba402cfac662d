"""Every error ipscreen raises on purpose, in one family.

The CLI maps them to exit codes and one-line messages, the API (later) to problem+json
responses. Library code raises; it never returns None or "" to signal failure.
"""

import errno
from collections.abc import Mapping, Sequence
from typing import Any

from indexes.errors import IndexCompatibilityError, IndexCorruptError
from models.errors import ImageDecodeError, ModelError, ModelUnavailableError


class IpscreenError(Exception):
    """Base for errors raised by screening/."""

    exit_code = 1


class NotFoundError(IpscreenError):
    """A work (or other record) that does not exist."""

    exit_code = 3


class ConflictError(IpscreenError):
    """The request conflicts with stored state (e.g. same external_id, different content)."""

    exit_code = 4


class InvalidInputError(IpscreenError):
    """A malformed argument, manifest or file."""

    exit_code = 2


class DataDirError(IpscreenError):
    """The data directory is missing, unwritable or not an ipscreen data dir."""

    exit_code = 5


class ConfigurationError(IpscreenError):
    """Settings that cannot work together."""

    exit_code = 2




class AuthenticationError(IpscreenError):
    """No API key, or one that is unknown or revoked (HTTP 401)."""

    exit_code = 6


class PermissionDeniedError(IpscreenError):
    """A valid key without the scope the operation needs (HTTP 403)."""

    exit_code = 7


#: errno values that mean the storage, not the request, failed a write
STORAGE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EIO})


def storage_failure(exc: BaseException) -> tuple[str, bool] | None:
    """A one-line description of a write that the machine refused (a full disk, a quota, a
    file-size limit, a read-only or failing file system), and whether it is a matter of
    space; None for any other error. OSError from our own writes and SQLite's "database or
    disk is full" both land here, so the CLI and the API can say so instead of printing a
    traceback or answering 500 (any other OperationalError of the database too: a server
    gone away). Every write is atomic, so what was stored before is intact, and the
    description says so."""
    found = _storage_failure(exc)
    return None if found is None else (f"{found[0]}; what was stored before is intact",
                                       found[1])


def _storage_failure(exc: BaseException) -> tuple[str, bool] | None:
    if isinstance(exc, OSError) and exc.errno in STORAGE_ERRNOS:
        where = f" ({exc.filename})" if exc.filename else ""
        space = exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
        return f"storage refused a write: {exc.strerror}{where}", space
    try:
        from sqlalchemy.exc import OperationalError
    except ImportError:  # pragma: no cover - sqlalchemy is a dependency
        return None
    if isinstance(exc, OperationalError):
        msg = str(exc.orig)
        if "full" in msg or "readonly" in msg or "disk I/O" in msg:
            return f"storage refused a write to the registry database: {msg}", "full" in msg
        if "locked" in msg or "busy" in msg:  # SQLite past its busy timeout
            return f"the registry database is busy ({msg}); retry shortly", False
        # DB-API's OperationalError is the database's operation, not the request: a server
        # gone away, a connection refused
        return f"the registry database failed: {msg.strip()}", False
    return None


def first_validation_error(errors: Sequence[Mapping[str, Any]]) -> str:
    """`field.path: message` for the first of pydantic's validation errors: the one thing a
    user fixes first, said the same way by the CLI, the plan and applicant readers, and the
    API."""
    if not errors:
        return "invalid input"
    first = errors[0]
    # A value that may take several shapes (a string or an object) fails once per shape; the
    # first failure is usually "wrong type" for the shape the client did not send, which
    # hides the one that says what is wrong ("at most 200 characters"). Prefer, within the
    # same value, a failure that is not about the type.
    where_from = tuple(first.get("loc", ()))[:-1]
    if str(first.get("type", "")).endswith("_type") and where_from:
        for e in errors:
            loc = tuple(e.get("loc", ()))
            if loc[:len(where_from)] == where_from and not str(e.get("type", "")) \
                    .endswith("_type"):
                first = e
                break
    where = ".".join(str(p) for p in first.get("loc", ()))
    return f"{where}: {first.get('msg')}" if where else str(first.get("msg"))


__all__ = [
    "AuthenticationError", "PermissionDeniedError",
    "ConfigurationError", "ConflictError", "DataDirError", "ImageDecodeError",
    "IndexCompatibilityError", "IndexCorruptError", "InvalidInputError", "IpscreenError",
    "ModelError", "first_validation_error", "storage_failure",
    "ModelUnavailableError", "NotFoundError",
]
