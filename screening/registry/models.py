"""SQLAlchemy 2 tables of the registry.

`changes` is an append-only log: its largest id is the registry revision, each work carries
the revision of its last change, and an index that reflects revision R catches up by applying
the works changed after R. It doubles as the audit trail rights holders and insurers ask for.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import (
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(at: datetime) -> datetime:
    """A timestamp read back from the database, zoned: written in UTC, but SQLite hands
    them back without a zone (PostgreSQL with one)."""
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def utc_iso(at: datetime) -> str:
    """ISO 8601 with its UTC offset (a record read back from SQLite said something else
    than the one just written, '...' vs '...+00:00', before)."""
    return as_utc(at).isoformat()


class Base(DeclarativeBase):
    pass


class Work(Base):
    __tablename__ = "works"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    external_id: Mapped[str] = mapped_column(String(200), unique=True, index=True)
    kind: Mapped[str] = mapped_column(String(16))  # "image" | "text"
    title: Mapped[str] = mapped_column(String(500), default="")
    owner: Mapped[str] = mapped_column(String(300), default="")
    category: Mapped[str] = mapped_column(String(100), default="")
    jurisdiction: Mapped[str] = mapped_column(String(100), default="")
    registration_no: Mapped[str] = mapped_column(String(200), default="")
    content_sha256: Mapped[str] = mapped_column(String(64), index=True)
    content_bytes: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="active", index=True)
    revision: Mapped[int] = mapped_column(Integer, index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow,
                                                 onupdate=utcnow)
    #: The work this row is a further reference image of (NULL: a work of its own).
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("works.id", name="fk_works_parent_id"),
                                                  nullable=True, index=True)


class Change(Base):
    __tablename__ = "changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    work_id: Mapped[int] = mapped_column(ForeignKey("works.id"), index=True)
    #: created | replaced | withdrawn | reactivated | updated (metadata only)
    action: Mapped[str] = mapped_column(String(16))
    detail: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Feature(Base):
    """Cached features of a work, so index rebuilds need not re-run the models."""

    __tablename__ = "features"
    __table_args__ = (UniqueConstraint("work_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    work_id: Mapped[int] = mapped_column(ForeignKey("works.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    version: Mapped[str] = mapped_column(Text)
    content_sha256: Mapped[str] = mapped_column(String(64))
    dtype: Mapped[str] = mapped_column(String(16))
    rows: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class ApiKey(Base):
    """An API key: only its SHA-256 is stored; the prefix finds it and shows in logs."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    prefix: Mapped[str] = mapped_column(String(16), unique=True, index=True)
    key_sha256: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200), default="")
    tenant: Mapped[str] = mapped_column(String(200), default="")
    scopes: Mapped[str] = mapped_column(String(200))  # space-separated
    rate_per_minute: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class AuditEntry(Base):
    """One decision, append-only: what was decided, by which versions, on which input hash."""

    __tablename__ = "audit"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    request_id: Mapped[str] = mapped_column(String(64), index=True)
    tenant: Mapped[str] = mapped_column(String(200), index=True)
    key_prefix: Mapped[str] = mapped_column(String(16))
    route: Mapped[str] = mapped_column(String(100))
    input_sha256: Mapped[str] = mapped_column(String(64), index=True)
    decision: Mapped[str] = mapped_column(String(32))
    score: Mapped[float] = mapped_column(Float)
    versions: Mapped[str] = mapped_column(Text)
    input: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    #: JSON: {"matches": [{"external_id", "score"}, ...], "licensed": [external_id, ...]},
    #: with "licensed_matches" (scores and licence evidence) or "licence" where they apply
    matches: Mapped[str | None] = mapped_column(Text, nullable=True)


class Licence(Base):
    """A work a tenant declares it has licensed, with the evidence it gave (screening/
    licences.py): matches on it do not count against that tenant while the term runs."""

    __tablename__ = "licences"
    __table_args__ = (UniqueConstraint("tenant", "external_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant: Mapped[str] = mapped_column(String(200), index=True)
    external_id: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    licensor: Mapped[str] = mapped_column(String(300), default="")
    contract_ref: Mapped[str] = mapped_column(String(200), default="")
    #: the term, both days included; None for rows recorded before 0008 (no term known)
    valid_from: Mapped[date | None] = mapped_column(Date, nullable=True)
    #: None: perpetual (new rows say so) or unknown (rows recorded before 0008)
    expires: Mapped[date | None] = mapped_column(Date, nullable=True)
    perpetual: Mapped[bool] = mapped_column(Boolean, default=False)
    #: "worldwide", or space-separated two-letter codes; "" where unknown (before 0008)
    territory: Mapped[str] = mapped_column(String(1000), default="")
    media: Mapped[str] = mapped_column(String(16), default="all")
    #: the prefix of the key that recorded it ("" before 0008)
    recorded_by: Mapped[str] = mapped_column(String(16), default="")
    #: "recorded", or "missing" for rows recorded before evidence was required
    evidence: Mapped[str] = mapped_column(String(16), default="recorded")


class Content(Base):
    """A registered work's bytes, by SHA-256, when the registry database is also the blob
    store (CONTENT_STORE=database: several nodes share one registry)."""

    __tablename__ = "contents"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class RateBucket(Base):
    """An API key's token bucket, shared by every node that serves it (a shared registry)."""

    __tablename__ = "rate_buckets"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    tokens: Mapped[float] = mapped_column(Float)
    updated: Mapped[float] = mapped_column(Float)  # seconds since the epoch


class ReviewCase(Base):
    """A screened input decided `review` (or `block`) waiting for a person, with the result
    it got. The input itself is kept for `review` decisions only, until `expires_at`
    (REVIEW_RETENTION_DAYS); the row goes then, its verdicts stay."""

    __tablename__ = "review_cases"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow,
                                                 index=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    request_id: Mapped[str] = mapped_column(String(64), index=True)
    tenant: Mapped[str] = mapped_column(String(200), index=True)
    key_prefix: Mapped[str] = mapped_column(String(16))
    route: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(16))  # "image" | "text"
    label: Mapped[str] = mapped_column(String(500), default="")
    decision: Mapped[str] = mapped_column(String(16), index=True)
    score: Mapped[float] = mapped_column(Float, index=True)
    external_id: Mapped[str] = mapped_column(String(200), default="", index=True)
    owner: Mapped[str] = mapped_column(String(300), default="", index=True)
    input_sha256: Mapped[str] = mapped_column(String(64))
    #: the screening result as the tenant saw it (JSON)
    result: Mapped[str] = mapped_column(Text)
    input: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    #: the latest verdict (NULL: still open)
    verdict: Mapped[str | None] = mapped_column(String(32), nullable=True, index=True)


class Verdict(Base):
    """A person's verdict on a case: kept (and audited) after the case and its input are
    gone, with what calibration needs: the match's signals and the decision's provenance."""

    __tablename__ = "verdicts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    case_id: Mapped[int] = mapped_column(Integer, index=True)  # no foreign key: cases expire
    tenant: Mapped[str] = mapped_column(String(200), index=True)
    key_prefix: Mapped[str] = mapped_column(String(16))
    verdict: Mapped[str] = mapped_column(String(32))
    note: Mapped[str] = mapped_column(Text, default="")
    external_id: Mapped[str] = mapped_column(String(200), default="")
    #: JSON: the matched work's signals as screening computed them
    signals: Mapped[str] = mapped_column(Text, default="{}")
    #: the calibrator that scored the match ("image-accurate-bg@2026.11.2")
    calibration: Mapped[str] = mapped_column(String(200), default="", index=True)
    #: JSON: the decision's versions (models, calibration, index revision, thresholds)
    versions: Mapped[str] = mapped_column(Text, default="{}")


class UiSession(Base):
    """A signed-in workbench session: the cookie holds a random token, this row its hash,
    the key it stands for, and the CSRF token its forms carry."""

    __tablename__ = "ui_sessions"

    token_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    key_prefix: Mapped[str] = mapped_column(String(16), index=True)
    csrf: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class CalibrationVersion(Base):
    """A calibrator refitted from verdicts, for everyone (tenant "") or one tenant. The
    newest active row of a (name, tenant) is used; rolling back retires it."""

    __tablename__ = "calibration_versions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100), index=True)
    tenant: Mapped[str] = mapped_column(String(200), default="", index=True)
    version: Mapped[str] = mapped_column(String(100))
    body: Mapped[str] = mapped_column(Text)  # the calibrator's JSON
    report: Mapped[str] = mapped_column(Text, default="{}")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
