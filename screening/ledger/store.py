"""The policy and claims ledger: bind, record, change, read, each change audited.

Every change and its audit entry are written in one transaction (a crash leaves neither).
The audit entry names the policy or claim, who changed it, the record's SHA-256, and for a
claim the matched work, so `ipscreen audit --work ID` finds the claims on a work beside the
decisions about it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import date

from sqlalchemy import Engine, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from screening.errors import ConflictError, InvalidInputError, NotFoundError
from screening.ledger.records import ClaimChange, ClaimIn, PolicyIn
from screening.ledger.tables import Claim, Policy
from screening.registry.models import AuditEntry, utc_iso, utcnow


@dataclass(frozen=True)
class Actor:
    """Who changes the ledger: an API key (its request id, tenant, prefix) or the CLI."""

    request_id: str
    tenant: str
    key_prefix: str


CLI = Actor("cli", "", "cli")


def policy_dict(p: Policy, claims: list[Claim] | None = None) -> dict:
    out = {"policy_no": p.policy_no, "tenant": p.tenant, "applicant": p.applicant,
           "plan": {"plan_id": p.plan_id, "version": p.plan_version, "sha256": p.plan_sha256},
           "currency": p.currency, "limit": p.limit, "aggregate_limit": p.aggregate_limit,
           "deductible": p.deductible, "premium": p.premium,
           "period_start": p.period_start.isoformat(), "period_end": p.period_end.isoformat(),
           "status": p.status, "summary": json.loads(p.summary),
           "created_at": utc_iso(p.created_at), "created_by": p.created_by}
    if claims is not None:
        out["claims"] = [claim_dict(c, p.policy_no) for c in claims]
    return out


def claim_dict(c: Claim, policy_no: str) -> dict:
    return {"claim_no": c.claim_no, "policy_no": policy_no,
            "loss_date": c.loss_date.isoformat(), "reported_date": c.reported_date.isoformat(),
            "external_id": c.external_id, "owner": c.owner, "category": c.category,
            "jurisdiction": c.jurisdiction, "paid": c.paid, "reserved": c.reserved,
            "defence": c.defence, "incurred": c.paid + c.reserved + c.defence,
            "status": c.status, "request_id": c.request_id, "input_sha256": c.input_sha256,
            "note": c.note, "created_at": utc_iso(c.created_at),
            "updated_at": utc_iso(c.updated_at), "created_by": c.created_by}


def _audit(s: Session, who: Actor, route: str, decision: str, record: dict, amount: float,
           work: str = "") -> None:
    body = json.dumps(record, sort_keys=True, default=str)
    s.add(AuditEntry(request_id=who.request_id, tenant=who.tenant, key_prefix=who.key_prefix,
                     route=route, input_sha256=hashlib.sha256(body.encode()).hexdigest(),
                     decision=decision, score=float(amount),
                     versions=json.dumps({"ledger": record}, sort_keys=True, default=str),
                     matches=json.dumps({"matches": [{"external_id": work, "score": 1.0}]
                                         if work else [], "licensed": []})))


class LedgerStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # -- policies ----------------------------------------------------------------------------
    def _new_policy(self, s: Session, p: PolicyIn, who: Actor) -> Policy:
        row = Policy(policy_no=p.policy_no, tenant=p.tenant, applicant=p.applicant,
                     plan_id=p.plan_id, plan_version=p.plan_version,
                     plan_sha256=p.plan_sha256, currency=p.currency, limit=p.limit,
                     aggregate_limit=p.aggregate_limit or p.limit, deductible=p.deductible,
                     premium=p.premium, period_start=p.period_start, period_end=p.end,
                     status="bound", summary=p.summary.model_dump_json(),
                     created_at=utcnow(), created_by=who.key_prefix)
        s.add(row)
        try:
            s.flush()
        except IntegrityError:
            raise ConflictError(f"policy {p.policy_no} exists already") from None
        _audit(s, who, "ledger/policy", "policy_bound", policy_dict(row), p.premium)
        return row

    def bind(self, p: PolicyIn, who: Actor = CLI) -> dict:
        with Session(self.engine) as s, s.begin():
            return policy_dict(self._new_policy(s, p, who))

    def bind_many(self, policies: list[PolicyIn], who: Actor = CLI) -> int:
        """All or none (an import that stops half-way would leave a ledger nobody wrote)."""
        with Session(self.engine) as s, s.begin():
            for p in policies:
                self._new_policy(s, p, who)
        return len(policies)

    def cancel(self, policy_no: str, who: Actor = CLI) -> dict:
        with Session(self.engine) as s, s.begin():
            row = self._policy(s, policy_no)
            row.status = "cancelled"
            _audit(s, who, "ledger/policy", "policy_cancelled", policy_dict(row), 0.0)
            return policy_dict(row)

    @staticmethod
    def _policy(s: Session, policy_no: str) -> Policy:
        row = s.scalar(select(Policy).where(Policy.policy_no == policy_no))
        if row is None:
            raise NotFoundError(f"no policy {policy_no!r}")
        return row

    def policy(self, policy_no: str, tenant: str | None = None) -> dict:
        with Session(self.engine) as s:
            row = self._policy(s, policy_no)
            if tenant is not None and row.tenant != tenant:
                raise NotFoundError(f"no policy {policy_no!r}")
            claims = list(s.scalars(select(Claim).where(Claim.policy_id == row.id)
                                    .order_by(Claim.loss_date, Claim.id)))
            return policy_dict(row, claims)

    def policies(self, tenant: str | None = None, applicant: str | None = None,
                 status: str | None = None, limit: int = 1000, offset: int = 0) -> list[dict]:
        if not 1 <= limit <= 100_000 or offset < 0:
            raise InvalidInputError("limit must be 1-100,000 and offset >= 0")
        with Session(self.engine) as s:
            q = select(Policy).order_by(Policy.period_start, Policy.id)
            if tenant is not None:
                q = q.where(Policy.tenant == tenant)
            if applicant is not None:
                q = q.where(Policy.applicant == applicant)
            if status is not None:
                q = q.where(Policy.status == status)
            return [policy_dict(p) for p in s.scalars(q.limit(limit).offset(offset))]

    def count(self) -> tuple[int, int]:
        """(policies, claims)."""
        with Session(self.engine) as s:
            return (int(s.scalar(select(func.count(Policy.id))) or 0),
                    int(s.scalar(select(func.count(Claim.id))) or 0))

    # -- claims ------------------------------------------------------------------------------
    def _new_claim(self, s: Session, c: ClaimIn, who: Actor) -> tuple[Claim, Policy]:
        pol = self._policy(s, c.policy_no)
        reported = c.reported_date or c.loss_date
        # claims made: the claim is the policy's when it is reported in the policy period
        if not pol.period_start <= reported <= pol.period_end:
            raise InvalidInputError(
                f"claim {c.claim_no}: reported {reported.isoformat()}, outside policy "
                f"{pol.policy_no}'s period {pol.period_start.isoformat()} to "
                f"{pol.period_end.isoformat()} (cover is claims made)")
        if pol.status == "cancelled" and reported > date.today():
            raise InvalidInputError(f"policy {pol.policy_no} is cancelled")
        now = utcnow()
        row = Claim(claim_no=c.claim_no, policy_id=pol.id, loss_date=c.loss_date,
                    reported_date=reported, external_id=c.external_id, owner=c.owner,
                    category=c.category.lower(), jurisdiction=c.jurisdiction.upper(),
                    paid=c.paid, reserved=c.reserved, defence=c.defence, status=c.status,
                    request_id=c.request_id, input_sha256=c.input_sha256, note=c.note,
                    created_at=now, updated_at=now, created_by=who.key_prefix)
        s.add(row)
        try:
            s.flush()
        except IntegrityError:
            raise ConflictError(f"claim {c.claim_no} exists already") from None
        d = claim_dict(row, pol.policy_no)
        _audit(s, who, "ledger/claim", "claim_recorded", d, d["incurred"], c.external_id)
        return row, pol

    def add_claim(self, c: ClaimIn, who: Actor = CLI) -> dict:
        with Session(self.engine) as s, s.begin():
            row, pol = self._new_claim(s, c, who)
            return claim_dict(row, pol.policy_no)

    def add_claims(self, claims: list[ClaimIn], who: Actor = CLI) -> int:
        with Session(self.engine) as s, s.begin():
            for c in claims:
                self._new_claim(s, c, who)
        return len(claims)

    def change_claim(self, claim_no: str, change: ClaimChange, who: Actor = CLI,
                     tenant: str | None = None) -> dict:
        with Session(self.engine) as s, s.begin():
            row = s.scalar(select(Claim).where(Claim.claim_no == claim_no))
            pol = None if row is None else s.get(Policy, row.policy_id)
            if row is None or pol is None or (tenant is not None and pol.tenant != tenant):
                raise NotFoundError(f"no claim {claim_no!r}")
            for k, v in change.model_dump(exclude_none=True).items():
                setattr(row, k, v)
            row.updated_at = utcnow()
            d = claim_dict(row, pol.policy_no)
            _audit(s, who, "ledger/claim", "claim_changed", d, d["incurred"], row.external_id)
            return d

    def claims(self, policy_no: str | None = None, status: str | None = None,
               tenant: str | None = None) -> list[dict]:
        with Session(self.engine) as s:
            q = select(Claim, Policy.policy_no).join(Policy, Claim.policy_id == Policy.id) \
                .order_by(Claim.loss_date, Claim.id)
            if policy_no is not None:
                q = q.where(Policy.policy_no == policy_no)
            if status is not None:
                q = q.where(Claim.status == status)
            if tenant is not None:
                q = q.where(Policy.tenant == tenant)
            return [claim_dict(c, no) for c, no in s.execute(q)]

    def experience(self, tenant: str | None = None) -> list[dict]:
        """Every bound or cancelled policy (of one book, or all) with its claims: what
        experience rating reads."""
        with Session(self.engine) as s:
            by_policy: dict[int, list[Claim]] = {}
            for c in s.scalars(select(Claim).order_by(Claim.id)):
                by_policy.setdefault(c.policy_id, []).append(c)
            q = select(Policy).order_by(Policy.id)
            if tenant is not None:
                q = q.where(Policy.tenant == tenant)
            return [policy_dict(p, by_policy.get(p.id, [])) for p in s.scalars(q)]
