"""Licences carry their evidence and a term.

A licence was a bare (tenant, work) pair that any screening key could add, and it set the
work's matches aside for good. It now records the licensor, the contract reference, the term
(`valid_from`, `expires` or `perpetual`), the territory, the media it covers, and the prefix
of the key that recorded it; a licence applies only while its term runs.

Rows recorded before this revision keep applying (turning them off would change every
licensee's decisions on upgrade), with no term, media `all`, and `evidence` set to
`missing`: the API and the underwriting profile say they were recorded before evidence was
required, so the tenant can record them again with evidence.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

COLUMNS = ("licensor", "contract_ref", "valid_from", "expires", "perpetual", "territory",
           "media", "recorded_by", "evidence")


def upgrade() -> None:
    with op.batch_alter_table("licences") as batch:
        batch.add_column(sa.Column("licensor", sa.String(300), nullable=False,
                                   server_default=""))
        batch.add_column(sa.Column("contract_ref", sa.String(200), nullable=False,
                                   server_default=""))
        batch.add_column(sa.Column("valid_from", sa.Date, nullable=True))
        batch.add_column(sa.Column("expires", sa.Date, nullable=True))
        batch.add_column(sa.Column("perpetual", sa.Boolean, nullable=False,
                                   server_default=sa.false()))
        batch.add_column(sa.Column("territory", sa.String(1000), nullable=False,
                                   server_default=""))
        batch.add_column(sa.Column("media", sa.String(16), nullable=False,
                                   server_default="all"))
        batch.add_column(sa.Column("recorded_by", sa.String(16), nullable=False,
                                   server_default=""))
        # every row present now was recorded without evidence; new rows say "recorded"
        batch.add_column(sa.Column("evidence", sa.String(16), nullable=False,
                                   server_default="missing"))


def downgrade() -> None:
    with op.batch_alter_table("licences") as batch:
        for name in reversed(COLUMNS):
            batch.drop_column(name)
