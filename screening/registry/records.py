"""What the registry says of a work, detached from the database: the metadata a rights holder
gives (WorkMeta, validated) and a registry row (WorkRecord)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from screening.errors import ConflictError, InvalidInputError, NotFoundError
from screening.registry.models import Work, utc_iso

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
    #: Set on a further reference image of a work: that work's row id.
    parent_id: int | None = None

    @classmethod
    def of(cls, w: Work) -> WorkRecord:
        return cls(w.id, w.external_id, w.kind, w.title, w.owner, w.category, w.jurisdiction,
                   w.registration_no, w.content_sha256, w.content_bytes, w.status, w.revision,
                   utc_iso(w.created_at), utc_iso(w.updated_at), w.parent_id)

    def public(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k not in ("id", "parent_id")}

    def match_fields(self) -> dict:
        """What a match says of its work, the same for image and text matches."""
        return {"external_id": self.external_id, "title": self.title, "owner": self.owner,
                "category": self.category, "jurisdiction": self.jurisdiction,
                "registration_no": self.registration_no}
