"""Walk a metric's order without reading its rows: run_id joins the latest_metrics search index

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 23:20:00.000000

``(experiment_id, key, value, run_id)`` replaces ``(experiment_id, key, value)``: a search ordered by a
metric walks this index in order and reads each run id from it (SQLite's secondary indexes hold the
rowid, not the run id, so the old index cost a table read per step of the walk), and a metric filter
becomes a list of run ids read from the index alone. PostgreSQL builds it ``CONCURRENTLY`` (writers go
on during the build); SQLite holds its write lock for the build (seconds at a million rows).
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_OLD = "ix_latest_metrics_experiment_id_key_value"
_NEW = "ix_latest_metrics_experiment_id_key_value_run_id"


def upgrade() -> None:
    _swap(_OLD, _NEW, ["experiment_id", "key", "value", "run_id"])


def downgrade() -> None:
    _swap(_NEW, _OLD, ["experiment_id", "key", "value"])


def _swap(old: str, new: str, columns: list[str]) -> None:
    if op.get_bind().dialect.name == "postgresql":
        with op.get_context().autocommit_block():  # CONCURRENTLY cannot run in a transaction
            op.create_index(new, "latest_metrics", columns, postgresql_concurrently=True, if_not_exists=True)
            op.drop_index(old, table_name="latest_metrics", postgresql_concurrently=True, if_exists=True)
    else:
        op.create_index(new, "latest_metrics", columns)
        op.drop_index(old, table_name="latest_metrics")
