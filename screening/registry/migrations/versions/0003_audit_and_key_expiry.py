"""The audit trail is read back, and keys may expire.

- audit: indexed by input SHA-256 and by tenant (`ipscreen audit --input-sha256`,
  `GET /v1/audit?input_sha256=` look a decision up by the output it was made on), and a
  `matches` column naming the works each decision was about (the best matches with their
  scores, and the works the tenant's licences set aside; JSON).
- api_keys: `expires_at`; a key created with an expiry is refused from then on.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_audit_input_sha256", "audit", ["input_sha256"])
    op.create_index("ix_audit_tenant", "audit", ["tenant"])
    with op.batch_alter_table("audit") as batch:
        batch.add_column(sa.Column("matches", sa.Text, nullable=True))
    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_column("expires_at")
    with op.batch_alter_table("audit") as batch:
        batch.drop_column("matches")
    op.drop_index("ix_audit_tenant", "audit")
    op.drop_index("ix_audit_input_sha256", "audit")
