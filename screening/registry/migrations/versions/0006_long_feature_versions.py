"""Feature versions longer than 100 characters.

A profile's feature version names its model and its transforms (the accurate profile's
region grid makes it about 200 characters). SQLite ignores a VARCHAR's length, PostgreSQL
refused such a version, so a PostgreSQL registry could not cache the accurate profile's
features (found by the two-node benchmark). The column becomes unbounded text.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("features") as batch:
        batch.alter_column("version", type_=sa.Text(), existing_type=sa.String(100),
                           existing_nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("features") as batch:
        batch.alter_column("version", type_=sa.String(100), existing_type=sa.Text(),
                           existing_nullable=False)
