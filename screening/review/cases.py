"""Cases: screened inputs decided `review` (or `block`) that wait for a person's verdict.

A platform's reviewer clears what screening could not decide alone; a rights holder or an
underwriter checks the hits behind a decision. The service keeps a case for every `review`
and `block` decision: the result as the tenant saw it, and for `review` only the input
itself, until REVIEW_RETENTION_DAYS have passed (then the case goes; verdicts stay).
Verdicts are the labelled data calibration lacks (screening/calibration/verdicts.py): each
keeps the match's signals and the decision's provenance, and is appended to the audit.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine, delete, func, select, update
from sqlalchemy.orm import Session, defer

from screening.access import KeyInfo
from screening.decision import match_risk
from screening.errors import InvalidInputError, NotFoundError
from screening.registry.models import (
    AuditEntry,
    ReviewCase,
    Verdict,
    as_utc,
    utc_iso,
    utcnow,
)
from screening.registry.repository import check_no_surrogates

#: What a reviewer can say about a case. `licensed`: the match is real and permitted.
VERDICTS = ("infringing", "not_infringing", "licensed", "unsure")
#: The copy label each verdict gives calibration (None: not used).
COPY_LABEL: dict[str, float | None] = {"infringing": 1.0, "licensed": 1.0,
                                       "not_infringing": 0.0, "unsure": None}
KEPT = ("review", "block")
NOTE_CHARS = 2000


@dataclass(frozen=True)
class QueueFilter:
    """Which cases a queue page shows. tenant None: every tenant the viewer may see."""

    tenant: str | None = None
    kind: str | None = None
    external_id: str | None = None
    owner: str | None = None
    min_score: float | None = None
    max_score: float | None = None
    decisions: tuple[str, ...] = ("review",)
    open_only: bool = True

    def __post_init__(self) -> None:
        for value, what in ((self.tenant, "tenant"), (self.external_id, "work"),
                            (self.owner, "owner")):
            if value is not None:
                check_no_surrogates(value, what)
        if self.kind not in (None, "image", "text"):
            raise InvalidInputError(f"kind must be image or text, got {self.kind!r}")
        bad = [d for d in self.decisions if d not in KEPT]
        if bad or not self.decisions:
            raise InvalidInputError(f"decisions must be some of {', '.join(KEPT)}")
        for v in (self.min_score, self.max_score):
            if v is not None and not 0.0 <= v <= 1.0:
                raise InvalidInputError(f"score bounds must be within [0, 1], got {v}")


@dataclass
class Case:
    id: int
    created_at: str
    expires_at: str
    request_id: str
    tenant: str
    key: str
    route: str
    kind: str
    label: str
    decision: str
    score: float
    external_id: str
    owner: str
    input_sha256: str
    verdict: str | None
    result: dict = field(default_factory=dict)
    input: bytes | None = None

    @property
    def best(self) -> dict | None:
        """The match the case is about: the riskiest of the result's matches."""
        return best_match(self.result)


def best_match(result: dict) -> dict | None:
    matches = result.get("matches", [])
    return max(matches, key=match_risk) if matches else None


def _case(r: ReviewCase, full: bool) -> Case:
    return Case(r.id, utc_iso(r.created_at), utc_iso(r.expires_at), r.request_id, r.tenant,
                r.key_prefix, r.route, r.kind, r.label, r.decision, r.score, r.external_id,
                r.owner, r.input_sha256, r.verdict,
                json.loads(r.result) if full else {}, r.input if full else None)


class CaseStore:
    def __init__(self, engine: Engine, retention_days: float) -> None:
        self.engine = engine
        self.retention_days = retention_days

    def keep(self, request_id: str, key: KeyInfo, route: str, result: dict,
             data: bytes, input_sha256: str) -> int | None:
        """Keep a case for a review or block decision (None: nothing kept)."""
        decision = result.get("decision")
        if self.retention_days <= 0 or decision not in KEPT:
            return None
        best = best_match(result) or {}
        kind = result.get("versions", {}).get("kind") or ("image" if "size" in result
                                                            else "text")
        with Session(self.engine) as s, s.begin():
            row = ReviewCase(
                created_at=utcnow(), expires_at=utcnow() + timedelta(days=self.retention_days),
                request_id=request_id, tenant=key.tenant, key_prefix=key.prefix, route=route,
                kind=kind, label=str(result.get("input", ""))[:500], decision=decision,
                score=float(result.get("risk_score", 0.0)),
                external_id=str(best.get("external_id", "")),
                owner=str(best.get("owner", ""))[:300], input_sha256=input_sha256,
                result=json.dumps(result, sort_keys=True),
                input=data if decision == "review" else None)
            s.add(row)
            s.flush()
            return row.id

    @staticmethod
    def _where(q: Any, f: QueueFilter) -> Any:
        if f.tenant is not None:
            q = q.where(ReviewCase.tenant == f.tenant)
        if f.kind:
            q = q.where(ReviewCase.kind == f.kind)
        if f.external_id:
            q = q.where(ReviewCase.external_id == f.external_id)
        if f.owner:
            q = q.where(ReviewCase.owner == f.owner)
        if f.min_score is not None:
            q = q.where(ReviewCase.score >= f.min_score)
        if f.max_score is not None:
            q = q.where(ReviewCase.score <= f.max_score)
        if f.open_only:
            q = q.where(ReviewCase.verdict.is_(None))
        return q.where(ReviewCase.decision.in_(f.decisions),
                       ReviewCase.expires_at > utcnow())

    def queue(self, f: QueueFilter, page: int = 1, per_page: int = 50
              ) -> tuple[list[Case], int]:
        """One page of cases, newest first, and how many match the filter."""
        if not 1 <= per_page <= 500 or not 1 <= page <= 1_000_000:
            raise InvalidInputError("page must be >= 1 and per_page within 1..500")
        with Session(self.engine) as s:
            total = s.scalar(self._where(select(func.count(ReviewCase.id)), f)) or 0
            q = self._where(select(ReviewCase), f).order_by(ReviewCase.id.desc())
            q = q.offset((page - 1) * per_page).limit(per_page)
            # the list needs no result JSON nor input: load only the summary columns
            q = q.options(defer(ReviewCase.result), defer(ReviewCase.input))
            return [_case(r, full=False) for r in s.scalars(q)], int(total)

    def get(self, case_id: int, tenant: str | None) -> Case:
        """A case with its result and input; tenant None: any tenant's (an admin)."""
        with Session(self.engine) as s:
            r = s.get(ReviewCase, case_id)
            if r is None or (tenant is not None and r.tenant != tenant) \
                    or as_utc(r.expires_at) <= utcnow():
                raise NotFoundError(f"no case {case_id} (it may have expired)")
            return _case(r, full=True)

    def next_open(self, after: int, f: QueueFilter) -> int | None:
        """The next open case in the queue's order (newest first): the next older than
        `after`, else the newest (cases that came in meanwhile)."""
        with Session(self.engine) as s:
            q = self._where(select(ReviewCase.id), f)
            older = s.scalar(q.where(ReviewCase.id < after)
                             .order_by(ReviewCase.id.desc()).limit(1))
            if older is not None:
                return int(older)
            newest = s.scalar(q.where(ReviewCase.id != after)
                              .order_by(ReviewCase.id.desc()).limit(1))
            return None if newest is None else int(newest)

    def kept_results(self, tenant: str, pairs: set[tuple[str, str]]
                     ) -> dict[tuple[str, str], tuple[int, dict]]:
        """The cases of a tenant's (request id, input SHA-256) pairs: their ids and full
        results (what the underwriting page links each hit to)."""
        out: dict[tuple[str, str], tuple[int, dict]] = {}
        ids = sorted({rid for rid, _ in pairs})
        with Session(self.engine) as s:
            for i in range(0, len(ids), 500):
                q = select(ReviewCase.id, ReviewCase.request_id, ReviewCase.input_sha256,
                           ReviewCase.result).where(ReviewCase.tenant == tenant,
                                                    ReviewCase.request_id.in_(ids[i:i + 500]))
                for cid, rid, sha, result in s.execute(q):
                    if (rid, sha) in pairs:
                        out[(rid, sha)] = (int(cid), json.loads(result))
        return out

    def give_verdict(self, case_id: int, key: KeyInfo, verdict: str, note: str,
                     tenant: str | None) -> dict:
        """Record a verdict on the case's best match, mark the case, and audit it."""
        if verdict not in VERDICTS:
            raise InvalidInputError(f"verdict must be one of {', '.join(VERDICTS)}")
        check_no_surrogates(note, "note")
        if len(note) > NOTE_CHARS:
            raise InvalidInputError(f"a note is at most {NOTE_CHARS} characters")
        case = self.get(case_id, tenant)
        best = case.best or {}
        versions = case.result.get("versions", {})
        with Session(self.engine) as s, s.begin():
            v = Verdict(at=utcnow(), case_id=case.id, tenant=case.tenant,
                        key_prefix=key.prefix, verdict=verdict, note=note,
                        external_id=case.external_id,
                        signals=json.dumps({
                            "similarity_kind": best.get("similarity_kind", "copy"),
                            "reproduction": best.get("reproduction"),
                            "score": best.get("score"),
                            "signals": best.get("signals", {})}, sort_keys=True),
                        calibration=str(versions.get("calibration", "")),
                        versions=json.dumps(versions, sort_keys=True))
            s.add(v)
            s.execute(update(ReviewCase).where(ReviewCase.id == case.id)
                      .values(verdict=verdict))
            s.add(AuditEntry(request_id=case.request_id, tenant=case.tenant,
                             key_prefix=key.prefix, route="ui/verdict",
                             input_sha256=case.input_sha256, decision=verdict,
                             score=float(best.get("score", case.score)),
                             versions=json.dumps(versions, sort_keys=True),
                             matches=json.dumps({"matches": [
                                 {"external_id": case.external_id,
                                  "score": float(best.get("score", case.score))}],
                                 "licensed": [], "case": case.id, "note": note})))
            s.flush()
            return {"id": v.id, "case": case.id, "verdict": verdict, "at": utc_iso(v.at),
                    "key": key.prefix}

    def verdicts(self, tenant: str | None = None, calibration: str | None = None
                 ) -> list[dict]:
        """Verdicts, oldest first; `calibration`: only those scored by calibrators of this
        name (any version), e.g. "image-accurate-bg"."""
        with Session(self.engine) as s:
            q = select(Verdict).order_by(Verdict.id)
            if tenant is not None:
                q = q.where(Verdict.tenant == tenant)
            if calibration is not None:
                q = q.where(Verdict.calibration.startswith(f"{calibration}@",
                                                            autoescape=True))
            return [{"id": v.id, "at": utc_iso(v.at), "case": v.case_id, "tenant": v.tenant,
                     "key": v.key_prefix, "verdict": v.verdict, "note": v.note,
                     "external_id": v.external_id, "signals": json.loads(v.signals),
                     "calibration": v.calibration, "versions": json.loads(v.versions)}
                    for v in s.scalars(q)]

    def verdict_count(self, tenant: str | None = None) -> int:
        with Session(self.engine) as s:
            q = select(func.count(Verdict.id))
            if tenant is not None:
                q = q.where(Verdict.tenant == tenant)
            return int(s.scalar(q) or 0)

    def purge(self) -> int:
        """Delete the cases (and so the inputs) whose retention has ended."""
        with Session(self.engine) as s, s.begin():
            gone = s.execute(delete(ReviewCase).where(ReviewCase.expires_at <= utcnow()))
            return int(getattr(gone, "rowcount", 0) or 0)

