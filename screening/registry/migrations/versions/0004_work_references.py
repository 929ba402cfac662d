"""A work may hold several reference images (a character's model sheet, its poses).

- works: `parent_id`, the work a reference image belongs to (NULL for a work itself). A
  reference is a row of its own, so it is stored, indexed and withdrawn like any image;
  matches on it are reported as matches of its work.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("works") as batch:
        batch.add_column(sa.Column("parent_id", sa.Integer, nullable=True))
        batch.create_foreign_key("fk_works_parent_id", "works", ["parent_id"], ["id"])
        batch.create_index("ix_works_parent_id", ["parent_id"])


def downgrade() -> None:
    with op.batch_alter_table("works") as batch:
        batch.drop_index("ix_works_parent_id")
        batch.drop_constraint("fk_works_parent_id", type_="foreignkey")
        batch.drop_column("parent_id")
