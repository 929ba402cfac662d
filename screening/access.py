"""API keys (hashed, scoped, per-tenant), the append-only decision audit, and licences.

A key is `ips_<prefix>_<secret>`; only the SHA-256 of the whole key is stored, the prefix
finds the row and identifies the key in logs and the audit without revealing it. Keys carry
scopes (screen, register, underwrite, licence, admin) and a rate limit. The audit records every
screening and pricing decision with the versions that produced it and a hash of the input;
the input itself only when the operator asks for it (platforms will not send outputs to a
service that keeps them). A tenant's licences mark works that do not count against it
while their term runs; only a key with the `licence` scope records them, with their evidence
(screening/licences.py).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import Engine, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from screening.errors import (
    AuthenticationError,
    ConflictError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
)
from screening.licences import MISSING_EVIDENCE, LicenceTerms, status, today_utc
from screening.registry.models import (
    ApiKey,
    AuditEntry,
    Licence,
    as_utc,
    utc_iso,
    utcnow,
)
from screening.registry.repository import check_no_surrogates

#: `licence`: record and end the tenant's licences. Apart from `screen` because a licence
#: sets matches aside: the key that screens the applicant's outputs must not be the one
#: that declares what they may copy.
SCOPES = ("screen", "register", "underwrite", "licence", "admin")


@dataclass(frozen=True)
class KeyInfo:
    prefix: str
    name: str
    tenant: str
    scopes: tuple[str, ...]
    rate_per_minute: int
    created_at: str
    revoked: bool
    expires_at: str | None = None
    expired: bool = False

    def allows(self, scope: str) -> bool:
        return scope in self.scopes or "admin" in self.scopes

    def public(self) -> dict:
        return {"prefix": self.prefix, "name": self.name, "tenant": self.tenant,
                "scopes": list(self.scopes), "rate_per_minute": self.rate_per_minute,
                "created_at": self.created_at, "revoked": self.revoked,
                "expires_at": self.expires_at, "expired": self.expired}


def _info(k: ApiKey) -> KeyInfo:
    return KeyInfo(k.prefix, k.name, k.tenant, tuple(k.scopes.split()), k.rate_per_minute,
                   utc_iso(k.created_at), k.revoked_at is not None,
                   utc_iso(k.expires_at) if k.expires_at else None,
                   k.expires_at is not None and as_utc(k.expires_at) <= utcnow())


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def _works_named(matches: str | None) -> set[str]:
    """The external ids an audit entry's matches column names."""
    if not matches:
        return set()
    m = json.loads(matches)
    return {x["external_id"] for x in m.get("matches", [])} | set(m.get("licensed", []))


class AccessStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # -- keys -------------------------------------------------------------------------------
    def create_key(self, name: str, tenant: str, scopes: list[str],
                   rate_per_minute: int = 600, expires_in_days: float | None = None
                   ) -> tuple[str, KeyInfo]:
        """A new key; the secret is returned once and never stored. With `expires_in_days`
        it is refused from that time on (a key handed to a contractor, a trial, a yearly
        rotation)."""
        if expires_in_days is not None and not 0 < expires_in_days <= 3650:
            raise InvalidInputError("expires_in_days must be above 0 and at most 3,650 "
                                    f"(ten years), got {expires_in_days:g}")
        bad = [s for s in scopes if s not in SCOPES]
        if bad or not scopes:
            raise InvalidInputError(f"scopes must be some of {', '.join(SCOPES)}; got "
                                    f"{', '.join(scopes) or 'none'}")
        if not 1 <= rate_per_minute <= 1_000_000:
            raise InvalidInputError("rate_per_minute must be between 1 and 1,000,000")
        if not tenant.strip():
            raise InvalidInputError("a key needs a tenant")
        if not name.strip():
            raise InvalidInputError("a key needs a name (who or what uses it)")
        for value, what in ((name, "name"), (tenant, "tenant")):
            check_no_surrogates(value, what)
            if len(value) > 200:  # the column's width (PostgreSQL refuses longer)
                raise InvalidInputError(f"{what} is longer than 200 characters")
        prefix = secrets.token_hex(6)
        key = f"ips_{prefix}_{secrets.token_urlsafe(24)}"
        with Session(self.engine) as s, s.begin():
            row = ApiKey(prefix=prefix, key_sha256=_digest(key), name=name, tenant=tenant,
                         scopes=" ".join(sorted(set(scopes))), rate_per_minute=rate_per_minute,
                         expires_at=None if expires_in_days is None else
                         utcnow() + timedelta(days=expires_in_days))
            s.add(row)
            s.flush()
            return key, _info(row)

    def verify(self, key: str | None) -> KeyInfo:
        if not key:
            raise AuthenticationError("missing API key (send it as 'Authorization: Bearer "
                                      "<key>' or 'X-API-Key: <key>')")
        parts = key.split("_")
        if len(parts) < 3 or parts[0] != "ips":
            raise AuthenticationError("malformed API key")
        with Session(self.engine) as s:
            row = s.scalar(select(ApiKey).where(ApiKey.prefix == parts[1]))
            if row is None or not hmac.compare_digest(row.key_sha256, _digest(key)):
                raise AuthenticationError("unknown API key")
            if row.revoked_at is not None:
                raise AuthenticationError("revoked API key")
            info = _info(row)
            if info.expired:
                raise AuthenticationError(f"expired API key (it expired at {info.expires_at})")
            return info

    def by_prefix(self, prefix: str) -> KeyInfo:
        """The key a signed-in session stands for, refused as verify() refuses it when it has
        been revoked or has expired since."""
        with Session(self.engine) as s:
            row = s.scalar(select(ApiKey).where(ApiKey.prefix == prefix))
            if row is None or row.revoked_at is not None:
                raise AuthenticationError("the key this session was opened with is revoked")
            info = _info(row)
            if info.expired:
                raise AuthenticationError(f"the key this session was opened with expired at "
                                          f"{info.expires_at}")
            return info

    @staticmethod
    def require(info: KeyInfo, scope: str | Sequence[str]) -> None:
        """PermissionDeniedError unless the key has `scope` (one of them, for several)."""
        wanted = (scope,) if isinstance(scope, str) else tuple(scope)
        if not any(info.allows(s) for s in wanted):
            named = " or ".join(repr(s) for s in wanted)
            raise PermissionDeniedError(f"this key lacks the {named} scope (it has: "
                                        f"{', '.join(info.scopes)})")

    def list_keys(self) -> list[KeyInfo]:
        with Session(self.engine) as s:
            return [_info(k) for k in s.scalars(select(ApiKey).order_by(ApiKey.id))]

    def revoke(self, prefix: str) -> KeyInfo:
        check_no_surrogates(prefix, "prefix")
        with Session(self.engine) as s, s.begin():
            row = s.scalar(select(ApiKey).where(ApiKey.prefix == prefix))
            if row is None:
                raise NotFoundError(f"no API key with prefix {prefix!r}")
            if row.revoked_at is None:
                row.revoked_at = utcnow()
            s.flush()
            return _info(row)

    # -- audit ------------------------------------------------------------------------------
    def audit(self, request_id: str, key: KeyInfo, route: str, input_sha256: str,
              decision: str, score: float, versions: dict, data: bytes | None = None,
              matches: dict | None = None) -> None:
        """Append one entry. `matches`: the works the decision was about, as
        {"matches": [{"external_id", "score"}, ...], "licensed": [external_id, ...]}, and
        optionally "licensed_matches": [{"external_id", "score", "licence"}, ...] (the
        licensed ones with their scores and licence evidence) or, for a licence change,
        "licence": the licence's evidence."""
        with Session(self.engine) as s, s.begin():
            s.add(AuditEntry(request_id=request_id, tenant=key.tenant, key_prefix=key.prefix,
                             route=route, input_sha256=input_sha256, decision=decision,
                             score=float(score), versions=json.dumps(versions, sort_keys=True),
                             input=data,
                             matches=None if matches is None else json.dumps(matches)))

    def audit_entries(self, request_id: str | None = None, *, tenant: str | None = None,
                      input_sha256: str | None = None, route: str | None = None,
                      external_id: str | None = None, limit: int | None = None) -> list[dict]:
        """Audit entries, oldest first, filtered by request id, tenant, input SHA-256 (a
        platform holding an output can find what was decided on it), route, or a work
        among an entry's matches or licensed works (every decision about one work); with
        `limit`, only the latest `limit` of them."""
        for value, what in ((request_id, "request_id"), (tenant, "tenant"),
                            (input_sha256, "input_sha256"), (route, "route"),
                            (external_id, "external_id")):
            if value is not None:
                check_no_surrogates(value, what)
        if limit is not None and not 1 <= limit <= 1_000_000:
            raise InvalidInputError("limit must be between 1 and 1,000,000")
        with Session(self.engine) as s:
            q = select(AuditEntry).order_by(AuditEntry.id.desc())
            if request_id:
                q = q.where(AuditEntry.request_id == request_id)
            if tenant is not None:
                q = q.where(AuditEntry.tenant == tenant)
            if input_sha256 is not None:
                q = q.where(AuditEntry.input_sha256 == input_sha256.strip().lower())
            if route is not None:
                q = q.where(AuditEntry.route == route)
            if external_id is not None:
                # the column is JSON written by audit(), so the id appears JSON-encoded
                # (quotes included); the exact check follows
                q = q.where(AuditEntry.matches.contains(json.dumps(external_id),
                                                        autoescape=True))
            if limit is not None:
                q = q.limit(limit)
            rows = list(s.scalars(q))[::-1]
            if external_id is not None:  # exact, past what the LIKE pre-filter lets through
                rows = [a for a in rows if external_id in _works_named(a.matches)]
            return [{"id": a.id, "at": utc_iso(a.at), "request_id": a.request_id,
                     "tenant": a.tenant, "key": a.key_prefix, "route": a.route,
                     "input_sha256": a.input_sha256, "decision": a.decision,
                     "score": a.score, "versions": json.loads(a.versions),
                     **(json.loads(a.matches) if a.matches else {}),
                     "stored_input": a.input is not None} for a in rows]

    # -- licences ---------------------------------------------------------------------------
    def add_licence(self, tenant: str, external_id: str, terms: LicenceTerms,
                    recorded_by: str) -> dict:
        """Record a licence with its evidence; `recorded_by` is the recording key's prefix.
        One licence per tenant and work: a renewal ends the old one first."""
        check_no_surrogates(external_id, "external_id")
        try:
            with Session(self.engine) as s, s.begin():
                row = Licence(tenant=tenant, external_id=external_id, licensor=terms.licensor,
                              contract_ref=terms.contract_ref, valid_from=terms.valid_from,
                              expires=terms.expires, perpetual=terms.perpetual,
                              territory=" ".join(terms.territory), media=terms.media,
                              recorded_by=recorded_by, evidence="recorded")
                s.add(row)
                s.flush()
                return _licence(row, today_utc())
        except IntegrityError:
            raise ConflictError(f"{tenant} already licenses {external_id}; end that licence "
                                "(DELETE) before recording a renewal") from None

    def remove_licence(self, tenant: str, external_id: str) -> dict:
        """End a licence: the work counts against the tenant again from the next request.
        Returns the licence as it was (its evidence goes to the audit)."""
        check_no_surrogates(external_id, "external_id")
        with Session(self.engine) as s, s.begin():
            row = s.scalar(select(Licence).where(Licence.tenant == tenant,
                                                 Licence.external_id == external_id))
            if row is None:
                raise NotFoundError(f"{tenant} holds no licence for {external_id!r}")
            ended = _licence(row, today_utc())
            s.delete(row)
            return ended

    def licences(self, tenant: str, today: date | None = None) -> list[dict]:
        """The tenant's licences, by external id, with their evidence and status (in_force,
        expired, not_yet_valid), in force or not."""
        with Session(self.engine) as s:
            rows = s.scalars(select(Licence).where(Licence.tenant == tenant)
                             .order_by(Licence.external_id))
            return [_licence(r, today or today_utc()) for r in rows]

    def licensed(self, tenant: str, today: date | None = None) -> dict[str, dict]:
        """The works the tenant's licences in force `today` (UTC) set aside: external id ->
        the licence's evidence, which decision.apply_licences attaches to the match."""
        day = today or today_utc()
        with Session(self.engine) as s:
            rows = s.scalars(select(Licence).where(
                Licence.tenant == tenant,
                or_(Licence.valid_from.is_(None), Licence.valid_from <= day),
                or_(Licence.expires.is_(None), Licence.expires >= day)))
            return {r.external_id: evidence_of(r) for r in rows}


def evidence_of(row: Licence) -> dict:
    """A licence's evidence, as attached to the matches it sets aside and to the audit."""
    missing = row.evidence == "missing"
    return {"licensor": row.licensor, "contract_ref": row.contract_ref,
            "valid_from": row.valid_from.isoformat() if row.valid_from else None,
            "expires": row.expires.isoformat() if row.expires else None,
            "perpetual": bool(row.perpetual),
            "territory": (None if not row.territory else
                          "worldwide" if row.territory == "worldwide" else row.territory.split()),
            "media": row.media, "recorded_by": row.recorded_by,
            "recorded_at": utc_iso(row.created_at), "evidence": row.evidence,
            **({"note": MISSING_EVIDENCE} if missing else {})}


def _licence(row: Licence, today: date) -> dict:
    return {"external_id": row.external_id, **evidence_of(row),
            "status": status(row.valid_from, row.expires, today),
            "since": utc_iso(row.created_at)}  # recorded_at, as the earlier answer named it
