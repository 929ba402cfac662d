"""WorksRegistry: register, replace, withdraw and list works; the change log; feature cache."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from screening.errors import ConflictError, InvalidInputError, NotFoundError
from screening.registry.models import Change, Feature, Work, utc_iso, utcnow

WorkKind = Literal["image", "text"]
RegisterOutcome = Literal["created", "unchanged", "replaced", "reactivated", "updated"]
MAX_FIELD = {"external_id": 200, "title": 500, "owner": 300, "category": 100,
             "jurisdiction": 100, "registration_no": 200}
#: Outcomes after which the indexes have something to catch up with.
INDEXED_OUTCOMES = frozenset({"created", "replaced", "reactivated"})
#: What a rights holder may correct without touching the content.
METADATA_FIELDS = ("title", "owner", "category", "jurisdiction", "registration_no")


_SURROGATE = re.compile("[\ud800-\udfff]")


def check_no_surrogates(value: str, what: str) -> str:
    """InvalidInputError if `value` holds an unpaired UTF-16 surrogate. JSON may carry one
    (an escaped "\\udc00"), Python decodes it, and it can be neither stored nor encoded as
    UTF-8 afterwards."""
    found = _SURROGATE.search(value)
    if found is not None:
        raise InvalidInputError(
            f"{what} contains an unpaired UTF-16 surrogate (U+{ord(found.group()):04X}) at "
            f"character {found.start()}: it is not valid Unicode"
            + (" (a byte that is not UTF-8, in a command-line argument say, arrives so)"
               if 0xDC80 <= ord(found.group()) <= 0xDCFF else ""))
    return value


def _conflict(work: Work, meta: WorkMeta, sha256: str, replace: bool) -> ConflictError | None:
    """Why `meta` with content `sha256` cannot be registered over `work`, if it cannot."""
    if work.kind != meta.kind:
        return ConflictError(f"{meta.external_id}: registered as a {work.kind} work, "
                             f"cannot register it as {meta.kind}")
    if work.content_sha256 != sha256 and not replace:
        return ConflictError(
            f"{meta.external_id}: already registered with different content "
            f"(sha256 {work.content_sha256[:12]}..., new {sha256[:12]}...); "
            "use --replace to replace it")
    return None


def _existing(s: Session, external_id: str) -> Work:
    """The work registered as `external_id`, or NotFoundError. An id that is not valid
    Unicode (a command-line argument of bytes that are not UTF-8) is refused as such rather
    than failing to encode in the query."""
    check_no_surrogates(external_id, "external_id")
    work = s.scalar(select(Work).where(Work.external_id == external_id))
    if work is None:
        raise NotFoundError(f"no work with external_id {external_id!r}")
    return work


@dataclass(frozen=True)
class WorkMeta:
    """What a rights holder says about a work (everything but its content)."""

    external_id: str
    kind: WorkKind = "image"
    title: str = ""
    owner: str = ""
    category: str = ""
    jurisdiction: str = ""
    registration_no: str = ""

    def validated(self) -> WorkMeta:
        ext = self.external_id.strip()
        if not ext:
            raise InvalidInputError("external_id is empty")
        if any(ch in ext for ch in "\r\n\t\x00"):
            raise InvalidInputError("external_id contains control characters")
        for name, limit in MAX_FIELD.items():
            value = getattr(self, name)
            check_no_surrogates(value, name)
            if len(value) > limit:
                raise InvalidInputError(f"{name} is longer than {limit} characters")
        if self.kind not in ("image", "text"):
            raise InvalidInputError(f"kind must be image or text, got {self.kind!r}")
        return WorkMeta(ext, self.kind, self.title.strip(), self.owner.strip(),
                        self.category.strip().lower(), self.jurisdiction.strip(),
                        self.registration_no.strip())

    def differs(self, record: WorkRecord) -> list[str]:
        """The metadata fields in which this (validated) description and a record differ."""
        return [f for f in METADATA_FIELDS if getattr(self, f) != getattr(record, f)]


@dataclass(frozen=True)
class WorkRecord:
    """A registry row, detached from the database session."""

    id: int
    external_id: str
    kind: str
    title: str
    owner: str
    category: str
    jurisdiction: str
    registration_no: str
    content_sha256: str
    content_bytes: int
    status: str
    revision: int
    created_at: str
    updated_at: str

    @classmethod
    def of(cls, w: Work) -> WorkRecord:
        return cls(w.id, w.external_id, w.kind, w.title, w.owner, w.category, w.jurisdiction,
                   w.registration_no, w.content_sha256, w.content_bytes, w.status, w.revision,
                   utc_iso(w.created_at), utc_iso(w.updated_at))

    def public(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "id"}

    def match_fields(self) -> dict:
        """What a match says of its work, the same for image and text matches."""
        return {"external_id": self.external_id, "title": self.title, "owner": self.owner,
                "category": self.category, "jurisdiction": self.jurisdiction,
                "registration_no": self.registration_no}


class WorksRegistry:
    """All reads and writes of works go through here."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def revision(self, kind: str | None = None) -> int:
        """The registry revision: the last change to what is matched (a work created,
        replaced, withdrawn or reactivated). Indexes and screeners are stamped with it.
        Metadata corrections are in the change log too but do not move it: nothing indexed
        depends on metadata, which matches read from the registry when they are reported.
        With `kind`, the last change to works of that kind (what its indexes depend on)."""
        q = select(func.max(Work.revision))
        if kind is not None:
            q = q.where(Work.kind == kind)
        with Session(self.engine) as s:
            return int(s.scalar(q) or 0)

    def register(self, meta: WorkMeta, sha256: str, size: int,
                 replace: bool = False) -> tuple[WorkRecord, RegisterOutcome]:
        """Create a work, or say why not. Same external_id and content: unchanged (a withdrawn
        work is reactivated). Different content: ConflictError unless replace."""
        meta = meta.validated()
        with Session(self.engine) as s, s.begin():
            work = s.scalar(select(Work).where(Work.external_id == meta.external_id))
            outcome: RegisterOutcome
            if work is None:
                work = Work(external_id=meta.external_id, kind=meta.kind, title=meta.title,
                            owner=meta.owner, category=meta.category,
                            jurisdiction=meta.jurisdiction,
                            registration_no=meta.registration_no, content_sha256=sha256,
                            content_bytes=size, status="active", revision=0)
                s.add(work)
                s.flush()
                outcome = "created"
            elif (conflict := _conflict(work, meta, sha256, replace)) is not None:
                raise conflict
            elif work.content_sha256 == sha256:
                if work.status == "active":
                    differs = meta.differs(WorkRecord.of(work))
                    if not (replace and differs):
                        return WorkRecord.of(work), "unchanged"
                    # same content, new description: a metadata correction, nothing to index
                    self._set_metadata(s, work, {f: getattr(meta, f) for f in differs})
                    return WorkRecord.of(work), "updated"
                work.status = "active"
                outcome = "reactivated"
            else:
                outcome = "replaced"
            if outcome != "created":
                for field in ("title", "owner", "category", "jurisdiction", "registration_no"):
                    setattr(work, field, getattr(meta, field))
                work.content_sha256, work.content_bytes = sha256, size
                work.status = "active"
                work.updated_at = utcnow()
            change = Change(work_id=work.id, action=outcome, detail=sha256)
            s.add(change)
            s.flush()
            work.revision = change.id
            s.flush()
            return WorkRecord.of(work), outcome

    def check_registrable(self, meta: WorkMeta, sha256: str, replace: bool = False) -> None:
        """ConflictError now if register() would refuse this (another kind, or other content
        without replace), so callers refuse before they store the content: a refused
        upload must not leave its bytes in the blob store. register() checks again inside
        its transaction."""
        meta = meta.validated()
        with Session(self.engine) as s:
            work = s.scalar(select(Work).where(Work.external_id == meta.external_id))
            if work is not None and (conflict := _conflict(work, meta, sha256, replace)):
                raise conflict

    def update(self, external_id: str, **fields: str) -> tuple[WorkRecord, list[str]]:
        """Correct a work's metadata (any of METADATA_FIELDS; the others keep their values),
        active or withdrawn; returns the record and the fields that changed. Logged in the
        change log; the content, the indexes and the registry revision are untouched."""
        unknown = sorted(set(fields) - set(METADATA_FIELDS))
        if unknown:
            raise InvalidInputError(f"cannot update {', '.join(unknown)}: only "
                                    f"{', '.join(METADATA_FIELDS)} can be changed")
        with Session(self.engine) as s, s.begin():
            work = _existing(s, external_id)
            current = WorkRecord.of(work)
            meta = WorkMeta(work.external_id, current.kind,  # type: ignore[arg-type]
                            **{f: fields.get(f, getattr(current, f))
                               for f in METADATA_FIELDS}).validated()
            differs = meta.differs(current)
            if differs:
                self._set_metadata(s, work, {f: getattr(meta, f) for f in differs})
            return WorkRecord.of(work), differs

    @staticmethod
    def _set_metadata(s: Session, work: Work, values: dict[str, str]) -> None:
        detail = "; ".join(f"{f}: {getattr(work, f)!r} -> {v!r}" for f, v in values.items())
        for f, v in values.items():
            setattr(work, f, v)
        work.updated_at = utcnow()
        s.add(Change(work_id=work.id, action="updated", detail=detail))
        s.flush()

    def withdraw(self, external_id: str, reason: str = "") -> WorkRecord:
        check_no_surrogates(reason, "reason")
        with Session(self.engine) as s, s.begin():
            work = _existing(s, external_id)
            if work.status == "withdrawn":
                return WorkRecord.of(work)
            work.status = "withdrawn"
            work.updated_at = utcnow()
            change = Change(work_id=work.id, action="withdrawn", detail=reason)
            s.add(change)
            s.flush()
            work.revision = change.id
            s.flush()
            return WorkRecord.of(work)

    def get(self, external_id: str) -> WorkRecord:
        with Session(self.engine) as s:
            work = _existing(s, external_id)
            return WorkRecord.of(work)

    def history(self, external_id: str) -> list[dict]:
        """A work's change log, oldest first: what happened (created, replaced, withdrawn,
        reactivated, updated), when, and the detail (content SHA-256, withdrawal reason, or
        the metadata's old and new values). `change` numbers the change log; for a content
        or status change it is the registry revision that change produced (what indexes are
        stamped with)."""
        with Session(self.engine) as s:
            work = _existing(s, external_id)
            rows = s.scalars(select(Change).where(Change.work_id == work.id)
                             .order_by(Change.id))
            return [{"change": c.id, "action": c.action, "at": utc_iso(c.at),
                     "detail": c.detail} for c in rows]

    def by_ids(self, ids: Sequence[int]) -> dict[int, WorkRecord]:
        if not ids:
            return {}
        with Session(self.engine) as s:
            rows = s.scalars(select(Work).where(Work.id.in_(list(ids))))
            return {w.id: WorkRecord.of(w) for w in rows}

    def same_content(self, record: WorkRecord) -> list[str]:
        """External ids of the other active works with `record`'s content."""
        return self.with_content(record.content_sha256, but=record.id)

    def with_content(self, sha256: str, but: int | None = None) -> list[str]:
        """External ids of the active works (at most 5) whose content is `sha256`."""
        with Session(self.engine) as s:
            q = select(Work.external_id).where(Work.content_sha256 == sha256,
                                               Work.status == "active")
            if but is not None:
                q = q.where(Work.id != but)
            return list(s.scalars(q.order_by(Work.external_id).limit(5)))

    def content_groups(self, ids: Sequence[int]) -> dict[int, int]:
        """For each of `ids`, the smallest of them with the same content (SHA-256): works
        registered twice with one content (the same lyrics from a publisher and from the
        writer) form one group, which margins between works must not set against itself.
        Reads two columns only; ids not in the registry map to themselves."""
        if not ids:
            return {}
        with Session(self.engine) as s:
            rows = s.execute(select(Work.id, Work.content_sha256)
                             .where(Work.id.in_(list(ids)))).all()
        first: dict[str, int] = {}
        groups = {i: i for i in ids}
        for wid, sha in sorted(rows):
            groups[wid] = first.setdefault(sha, wid)
        return groups

    @staticmethod
    def _filtered(q: Any, kind: str | None, status: str | None, owner: str | None) -> Any:
        if kind:
            q = q.where(Work.kind == kind)
        if status:
            q = q.where(Work.status == status)
        if owner is not None:
            q = q.where(Work.owner == check_no_surrogates(owner, "owner").strip())
        return q

    def list_works(self, kind: str | None = None, status: str | None = None,
                   owner: str | None = None, limit: int | None = None, offset: int = 0
                   ) -> list[WorkRecord]:
        """Works in registration order, filtered (owner: exact match), a page at a time when
        limit is given (the database does the paging)."""
        with Session(self.engine) as s:
            q = self._filtered(select(Work), kind, status, owner).order_by(Work.id)
            if offset:
                q = q.offset(offset)
            if limit is not None:
                q = q.limit(limit)
            return [WorkRecord.of(w) for w in s.scalars(q)]

    def count_works(self, kind: str | None = None, status: str | None = None,
                    owner: str | None = None) -> int:
        with Session(self.engine) as s:
            q = self._filtered(select(func.count(Work.id)), kind, status, owner)
            return int(s.scalar(q) or 0)

    def changed_since(self, revision: int, kind: str) -> list[WorkRecord]:
        """Works of `kind` whose last change is newer than `revision`, oldest change first."""
        with Session(self.engine) as s:
            q = (select(Work).where(Work.revision > revision, Work.kind == kind)
                 .order_by(Work.revision))
            return [WorkRecord.of(w) for w in s.scalars(q)]

    def get_feature(self, work: WorkRecord, name: str, version: str) -> np.ndarray | None:
        """A cached feature of the work's current content, or None when absent or stale."""
        with Session(self.engine) as s:
            f = s.scalar(select(Feature).where(Feature.work_id == work.id,
                                               Feature.name == name))
            if f is None or f.version != version or f.content_sha256 != work.content_sha256:
                return None
            return np.frombuffer(f.data, dtype=f.dtype).reshape(f.rows, -1).copy()

    def put_feature(self, work: WorkRecord, name: str, version: str, value: np.ndarray) -> None:
        value = np.ascontiguousarray(value)
        with Session(self.engine) as s, s.begin():
            f = s.scalar(select(Feature).where(Feature.work_id == work.id,
                                               Feature.name == name))
            if f is None:
                f = Feature(work_id=work.id, name=name)
                s.add(f)
            f.version, f.content_sha256 = version, work.content_sha256
            f.dtype, f.rows, f.data = value.dtype.str, int(value.shape[0]), value.tobytes()
