"""loop controls: who paused a loop and since when, when its schedule last looked, who made each move

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("loop_states", schema=None) as batch_op:
        batch_op.add_column(sa.Column("paused_ms", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("paused_by", sa.String(128), nullable=True))
        batch_op.add_column(sa.Column("checked_ms", sa.BigInteger(), nullable=True))
    with op.batch_alter_table("loop_transitions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("actor", sa.String(128), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("loop_transitions", schema=None) as batch_op:
        batch_op.drop_column("actor")
    with op.batch_alter_table("loop_states", schema=None) as batch_op:
        batch_op.drop_column("checked_ms")
        batch_op.drop_column("paused_by")
        batch_op.drop_column("paused_ms")
