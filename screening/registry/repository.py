"""WorksRegistry: register, replace, withdraw and list works; the change log; feature cache."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sqlalchemy import Engine, func, or_, select
from sqlalchemy.orm import Session

from screening.errors import InvalidInputError
from screening.registry.models import Change, Feature, Work, utc_iso, utcnow
from screening.registry.records import (
    INDEXED_OUTCOMES,
    MAX_FIELD,
    METADATA_FIELDS,
    RegisterOutcome,
    WorkKind,
    WorkMeta,
    WorkRecord,
    _conflict,
    _existing,
    check_no_surrogates,
)
from screening.registry.references import ReferenceRegistry


class WorksRegistry(ReferenceRegistry):
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
            if outcome == "reactivated":  # the reference images withdrawn with it return
                for ref in s.scalars(select(Work).where(Work.parent_id == work.id,
                                                        Work.status == "withdrawn")):
                    last = s.scalar(select(Change).where(Change.work_id == ref.id)
                                    .order_by(Change.id.desc()).limit(1))
                    if last is not None and last.detail == f"with {work.external_id}":
                        self._set_status(s, ref, "active", "reactivated",
                                         f"with {work.external_id}")
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
            self._set_status(s, work, "withdrawn", "withdrawn", reason)
            # its reference images go with it (and come back with it, see register)
            for ref in s.scalars(select(Work).where(Work.parent_id == work.id,
                                                    Work.status == "active")):
                self._set_status(s, ref, "withdrawn", "withdrawn", f"with {work.external_id}")
            return WorkRecord.of(work)

    @staticmethod
    def _set_status(s: Session, work: Work, status: str, action: str, detail: str) -> None:
        """A status change, logged, moving the registry revision (indexes follow it)."""
        work.status = status
        work.updated_at = utcnow()
        change = Change(work_id=work.id, action=action, detail=detail)
        s.add(change)
        s.flush()
        work.revision = change.id
        s.flush()

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

    def work_images(self, ids: Sequence[int]) -> dict[int, list[int]]:
        """For each of `ids` that belongs to a work with further reference images, the ids
        of all that work's active images (its own first, then its references, oldest
        first). Ids of a work with one image, or not in the registry, are left out."""
        if not ids:
            return {}
        with Session(self.engine) as s:
            own = s.execute(select(Work.id, Work.parent_id)
                            .where(Work.id.in_(list(ids)))).all()
            root = {wid: parent if parent is not None else wid for wid, parent in own}
            roots = sorted(set(root.values()))
            rows = s.execute(select(Work.id, Work.parent_id).where(
                Work.status == "active",
                (Work.id.in_(roots)) | (Work.parent_id.in_(roots)))).all()
        members: dict[int, list[int]] = {}
        for wid, parent in sorted(rows, key=lambda r: (r[1] is not None, r[0])):
            members.setdefault(parent if parent is not None else wid, []).append(wid)
        return {wid: members[r] for wid, r in root.items() if len(members.get(r, ())) > 1}

    def content_groups(self, ids: Sequence[int]) -> dict[int, int]:
        """For each of `ids`, the smallest of them that is the same work or the same
        content: a work and its reference images are one work, and works registered twice
        with one content (the same lyrics from a publisher and from the writer) one content.
        Margins between works must not set either against itself. Reads three columns
        only; ids not in the registry map to themselves."""
        if not ids:
            return {}
        with Session(self.engine) as s:
            rows = s.execute(select(Work.id, Work.content_sha256, Work.parent_id)
                             .where(Work.id.in_(list(ids)))).all()
        root = {i: i for i in ids}

        def find(i: int) -> int:
            while root[i] != i:
                i = root[i]
            return i

        def join(a: int, b: int) -> None:
            ra, rb = find(a), find(b)
            if ra != rb:
                root[max(ra, rb)] = min(ra, rb)

        by_key: dict[object, int] = {}
        for wid, sha, parent in sorted(rows):
            for key in (("sha", sha), ("work", parent if parent is not None else wid)):
                if key in by_key:
                    join(wid, by_key[key])
                else:
                    by_key[key] = wid
        return {i: find(i) for i in ids}

    @staticmethod
    def _filtered(q: Any, kind: str | None, status: str | None, owner: str | None,
                  references: bool = False, text: str | None = None) -> Any:
        if text:  # a reviewer's search box: any of the names, case-insensitive
            needle = check_no_surrogates(text, "search").strip().lower()
            q = q.where(or_(*(func.lower(c).contains(needle, autoescape=True)
                              for c in (Work.external_id, Work.title, Work.owner,
                                        Work.registration_no))))
        if not references:  # a work's further reference images are listed with it, not alone
            q = q.where(Work.parent_id.is_(None))
        if kind:
            q = q.where(Work.kind == kind)
        if status:
            q = q.where(Work.status == status)
        if owner is not None:
            q = q.where(Work.owner == check_no_surrogates(owner, "owner").strip())
        return q

    def list_works(self, kind: str | None = None, status: str | None = None,
                   owner: str | None = None, limit: int | None = None, offset: int = 0,
                   references: bool = False, text: str | None = None) -> list[WorkRecord]:
        """Works in registration order, filtered (owner: exact match), a page at a time when
        limit is given (the database does the paging); with `references`, every image row,
        further reference images included (what the indexes hold)."""
        with Session(self.engine) as s:
            q = self._filtered(select(Work), kind, status, owner, references,
                               text).order_by(Work.id)
            if offset:
                q = q.offset(offset)
            if limit is not None:
                q = q.limit(limit)
            return [WorkRecord.of(w) for w in s.scalars(q)]

    def count_works(self, kind: str | None = None, status: str | None = None,
                    owner: str | None = None, references: bool = False,
                    text: str | None = None) -> int:
        with Session(self.engine) as s:
            q = self._filtered(select(func.count(Work.id)), kind, status, owner, references,
                               text)
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


__all__ = ["INDEXED_OUTCOMES", "MAX_FIELD", "METADATA_FIELDS", "RegisterOutcome", "WorkKind",
           "WorkMeta", "WorkRecord", "WorksRegistry", "check_no_surrogates"]
