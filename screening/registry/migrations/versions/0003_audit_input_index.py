"""Index the audit trail by input SHA-256 and by tenant: `ipscreen audit --input-sha256` and
`GET /v1/audit?input_sha256=` look a decision up by the output it was made on.

Revision ID: 0003
Revises: 0002
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_audit_input_sha256", "audit", ["input_sha256"])
    op.create_index("ix_audit_tenant", "audit", ["tenant"])


def downgrade() -> None:
    op.drop_index("ix_audit_tenant", "audit")
    op.drop_index("ix_audit_input_sha256", "audit")
