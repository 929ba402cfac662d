"""The ledger's tables: policies written from quotes, and claims against them.

They live beside the registry's tables (same database, same migrations) because a claim
points at what screening saw: the matched work, its owner, the screened output's request id.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, DateTime, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from screening.registry.models import Base, utcnow


class Policy(Base):
    """A bound quote: the terms, the plan that priced it, and what the plan expected of it
    (claims and loss a year), which experience rating compares the claims with."""

    __tablename__ = "policies"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    policy_no: Mapped[str] = mapped_column(String(100), unique=True, index=True)
    tenant: Mapped[str] = mapped_column(String(200), default="", index=True)
    applicant: Mapped[str] = mapped_column(String(300), index=True)
    plan_id: Mapped[str] = mapped_column(String(100))
    plan_version: Mapped[str] = mapped_column(String(50))
    plan_sha256: Mapped[str] = mapped_column(String(64), default="")
    currency: Mapped[str] = mapped_column(String(3))
    limit: Mapped[float] = mapped_column(Float)  # per claim
    aggregate_limit: Mapped[float] = mapped_column(Float)
    deductible: Mapped[float] = mapped_column(Float)
    premium: Mapped[float] = mapped_column(Float)
    period_start: Mapped[date] = mapped_column(Date, index=True)
    period_end: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default="bound")
    #: JSON: the rating inputs experience rating segments by (see ledger.records)
    summary: Mapped[str] = mapped_column(Text, default="{}")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    created_by: Mapped[str] = mapped_column(String(200), default="")


class Claim(Base):
    """A claim against a policy: amounts in the policy's currency, as the insurer carries
    them (paid and reserved indemnity, defence cost), and the link to what was screened."""

    __tablename__ = "claims"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    claim_no: Mapped[str] = mapped_column(String(100), unique=True, index=True)
    policy_id: Mapped[int] = mapped_column(ForeignKey("policies.id"), index=True)
    loss_date: Mapped[date] = mapped_column(Date)
    reported_date: Mapped[date] = mapped_column(Date)
    external_id: Mapped[str] = mapped_column(String(200), default="", index=True)
    owner: Mapped[str] = mapped_column(String(300), default="", index=True)
    category: Mapped[str] = mapped_column(String(100), default="")
    jurisdiction: Mapped[str] = mapped_column(String(20), default="")
    paid: Mapped[float] = mapped_column(Float, default=0.0)
    reserved: Mapped[float] = mapped_column(Float, default=0.0)
    defence: Mapped[float] = mapped_column(Float, default=0.0)
    status: Mapped[str] = mapped_column(String(16), default="open", index=True)
    request_id: Mapped[str] = mapped_column(String(64), default="")
    input_sha256: Mapped[str] = mapped_column(String(64), default="")
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    created_by: Mapped[str] = mapped_column(String(200), default="")
