"""Further reference images of an image work: a character's model sheet and poses, a logo's
variants. A generator draws the character anew; each reference is one more way it looks.

A reference is a registry row of its own (`parent_id` names its work; its external id is
`WORK#2`, `WORK#3`, ...), so it is stored, described, indexed, caught up and withdrawn like
any image, and its copies are found like copies of the work. Screening reports a match on a
reference as a match of its work, naming the reference it matched. Adding one leaves the
work's own revision alone (its vectors do not change) and writes a `reference` entry in the
work's change log.
"""

from __future__ import annotations

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from screening.errors import ConflictError, InvalidInputError
from screening.registry.models import Change, Work, utcnow
from screening.registry.records import RegisterOutcome, WorkRecord, _existing

#: References a work may hold besides its own image: enough for a model sheet and its poses,
#: bounded so that one work cannot crowd every other out of a search's candidates.
MAX_REFERENCES = 32


class ReferenceRegistry:
    """The reference-image half of WorksRegistry (mixed in; uses its engine)."""

    engine: Engine

    def _reference_parent(self, s: Session, parent_external_id: str) -> Work:
        parent = _existing(s, parent_external_id)
        if parent.parent_id is not None:
            raise InvalidInputError(f"{parent_external_id} is itself a reference image; add "
                                    "references to the work it belongs to")
        if parent.kind != "image":
            raise InvalidInputError(f"{parent_external_id} is a {parent.kind} work; only "
                                    "image works take reference images")
        if parent.status != "active":
            raise ConflictError(f"{parent_external_id} is withdrawn; register it again "
                                "before adding references")
        return parent

    def check_reference(self, parent_external_id: str) -> None:
        """What add_reference would refuse, refused before the content is stored."""
        with Session(self.engine) as s:
            self._reference_parent(s, parent_external_id)

    def add_reference(self, parent_external_id: str, sha256: str, size: int
                      ) -> tuple[WorkRecord, RegisterOutcome]:
        """Add an image with content `sha256` to the work's references. Content the work
        already has (its own, or a reference's) is `unchanged`; a withdrawn reference with
        it is `reactivated`."""
        with Session(self.engine) as s, s.begin():
            parent = self._reference_parent(s, parent_external_id)
            if parent.content_sha256 == sha256:
                return WorkRecord.of(parent), "unchanged"
            refs = list(s.scalars(select(Work).where(Work.parent_id == parent.id)
                                  .order_by(Work.id)))
            same = next((r for r in refs if r.content_sha256 == sha256), None)
            if same is not None and same.status == "active":
                return WorkRecord.of(same), "unchanged"
            if same is None:
                active = sum(r.status == "active" for r in refs)
                if active >= MAX_REFERENCES:
                    raise InvalidInputError(f"{parent.external_id} has {active} reference "
                                            f"images, the most a work holds "
                                            f"({MAX_REFERENCES}); withdraw one first")
                number = 2 + int(s.scalar(select(func.count(Work.id))
                                          .where(Work.parent_id == parent.id)) or 0)
                ext = f"{parent.external_id}#{number}"
                if len(ext) > 200:
                    raise InvalidInputError(f"{parent.external_id}: its reference ids "
                                            f"({ext[-12:]}) would be longer than 200 "
                                            "characters")
                same = Work(external_id=ext, kind="image", title=parent.title,
                            owner=parent.owner, category=parent.category,
                            jurisdiction=parent.jurisdiction,
                            registration_no=parent.registration_no, content_sha256=sha256,
                            content_bytes=size, status="active", revision=0,
                            parent_id=parent.id)
                s.add(same)
                s.flush()
                outcome: RegisterOutcome = "created"
            else:
                same.status, same.updated_at = "active", utcnow()
                outcome = "reactivated"
            change = Change(work_id=same.id, action=outcome,
                            detail=f"reference of {parent.external_id}: {sha256}")
            s.add(change)
            s.flush()
            same.revision = change.id
            # the work's own log says so, without moving its revision (its vectors are
            # unchanged, so its indexes have nothing to redo)
            s.add(Change(work_id=parent.id, action="reference",
                         detail=f"{outcome} {same.external_id}: {sha256}"))
            s.flush()
            return WorkRecord.of(same), outcome

    def references(self, parent_external_id: str) -> list[WorkRecord]:
        """The work's reference images (active and withdrawn), oldest first."""
        with Session(self.engine) as s:
            parent = _existing(s, parent_external_id)
            return [WorkRecord.of(w) for w in s.scalars(
                select(Work).where(Work.parent_id == parent.id).order_by(Work.id))]
