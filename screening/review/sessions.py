"""Signed-in workbench sessions, in the registry database so every node honours them.

The login page takes an API key once; the browser then holds only a random session token
(an HTTP-only, SameSite=Strict cookie) whose SHA-256 names a row here, with the key it
stands for and the CSRF token every form of the session must carry. The key is checked again
on every request (a revoked or expired key ends its sessions at once).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Engine, delete
from sqlalchemy.orm import Session

from screening.registry.models import UiSession, as_utc, utcnow


@dataclass(frozen=True)
class SignedIn:
    key_prefix: str
    csrf: str


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class SessionStore:
    def __init__(self, engine: Engine, hours: float) -> None:
        self.engine = engine
        self.hours = hours

    def open(self, key_prefix: str) -> tuple[str, SignedIn]:
        """A new session for the key: (the cookie's token, what it stands for)."""
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        with Session(self.engine) as s, s.begin():
            s.execute(delete(UiSession).where(UiSession.expires_at <= utcnow()))
            s.add(UiSession(token_sha256=_digest(token), key_prefix=key_prefix, csrf=csrf,
                            created_at=utcnow(),
                            expires_at=utcnow() + timedelta(hours=self.hours)))
        return token, SignedIn(key_prefix, csrf)

    def find(self, token: str | None) -> SignedIn | None:
        if not token or len(token) > 200:
            return None
        with Session(self.engine) as s:
            row = s.get(UiSession, _digest(token))
            if row is None or as_utc(row.expires_at) <= utcnow():
                return None
            return SignedIn(row.key_prefix, row.csrf)

    def close(self, token: str | None) -> None:
        if token:
            with Session(self.engine) as s, s.begin():
                s.execute(delete(UiSession).where(UiSession.token_sha256 == _digest(token)))
