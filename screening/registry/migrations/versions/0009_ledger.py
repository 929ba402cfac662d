"""The policy and claims ledger (issue 30): policies bound from quotes, claims against them.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "policies",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("policy_no", sa.String(100), nullable=False, unique=True, index=True),
        sa.Column("tenant", sa.String(200), nullable=False, index=True),
        sa.Column("applicant", sa.String(300), nullable=False, index=True),
        sa.Column("plan_id", sa.String(100), nullable=False),
        sa.Column("plan_version", sa.String(50), nullable=False),
        sa.Column("plan_sha256", sa.String(64), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("limit", sa.Float, nullable=False),
        sa.Column("aggregate_limit", sa.Float, nullable=False),
        sa.Column("deductible", sa.Float, nullable=False),
        sa.Column("premium", sa.Float, nullable=False),
        sa.Column("period_start", sa.Date, nullable=False, index=True),
        sa.Column("period_end", sa.Date, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
    )
    op.create_table(
        "claims",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("claim_no", sa.String(100), nullable=False, unique=True, index=True),
        sa.Column("policy_id", sa.Integer, sa.ForeignKey("policies.id"), nullable=False,
                  index=True),
        sa.Column("loss_date", sa.Date, nullable=False),
        sa.Column("reported_date", sa.Date, nullable=False),
        sa.Column("external_id", sa.String(200), nullable=False, index=True),
        sa.Column("owner", sa.String(300), nullable=False, index=True),
        sa.Column("category", sa.String(100), nullable=False),
        sa.Column("jurisdiction", sa.String(20), nullable=False),
        sa.Column("paid", sa.Float, nullable=False),
        sa.Column("reserved", sa.Float, nullable=False),
        sa.Column("defence", sa.Float, nullable=False),
        sa.Column("status", sa.String(16), nullable=False, index=True),
        sa.Column("request_id", sa.String(64), nullable=False),
        sa.Column("input_sha256", sa.String(64), nullable=False),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("claims")
    op.drop_table("policies")
