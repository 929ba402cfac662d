"""The reviewer's workbench and calibration from verdicts.

- review_cases: inputs decided review (kept until their retention ends) or block.
- verdicts: reviewers' verdicts, kept after their case.
- ui_sessions: signed-in browser sessions.
- calibration_versions: calibrators refitted from verdicts, per tenant or for everyone.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "review_cases",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, index=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False, index=True),
        sa.Column("request_id", sa.String(64), nullable=False, index=True),
        sa.Column("tenant", sa.String(200), nullable=False, index=True),
        sa.Column("key_prefix", sa.String(16), nullable=False),
        sa.Column("route", sa.String(100), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("label", sa.String(500), nullable=False),
        sa.Column("decision", sa.String(16), nullable=False, index=True),
        sa.Column("score", sa.Float, nullable=False, index=True),
        sa.Column("external_id", sa.String(200), nullable=False, index=True),
        sa.Column("owner", sa.String(300), nullable=False, index=True),
        sa.Column("input_sha256", sa.String(64), nullable=False),
        sa.Column("result", sa.Text, nullable=False),
        sa.Column("input", sa.LargeBinary, nullable=True),
        sa.Column("verdict", sa.String(32), nullable=True, index=True),
    )
    op.create_table(
        "verdicts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("case_id", sa.Integer, nullable=False, index=True),
        sa.Column("tenant", sa.String(200), nullable=False, index=True),
        sa.Column("key_prefix", sa.String(16), nullable=False),
        sa.Column("verdict", sa.String(32), nullable=False),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("external_id", sa.String(200), nullable=False),
        sa.Column("signals", sa.Text, nullable=False),
        sa.Column("calibration", sa.String(200), nullable=False, index=True),
        sa.Column("versions", sa.Text, nullable=False),
    )
    op.create_table(
        "ui_sessions",
        sa.Column("token_sha256", sa.String(64), primary_key=True),
        sa.Column("key_prefix", sa.String(16), nullable=False, index=True),
        sa.Column("csrf", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False, index=True),
    )
    op.create_table(
        "calibration_versions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(100), nullable=False, index=True),
        sa.Column("tenant", sa.String(200), nullable=False, index=True),
        sa.Column("version", sa.String(100), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("report", sa.Text, nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    for table in ("calibration_versions", "ui_sessions", "verdicts", "review_cases"):
        op.drop_table(table)
