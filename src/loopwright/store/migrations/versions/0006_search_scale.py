"""Search at scale: experiment_id on latest_metrics, params and run_tags, indexed with key and value

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 20:20:00.000000

The columns are nullable with no default, so adding them rewrites no row and the indexes are built
over NULLs (seconds at a million rows). A trigger fills the column on every insert that leaves it
NULL (every write site, and a pre-0006 server still running during the upgrade). Existing rows are
not copied here, in the migration's one transaction (that would lock the tables for as long as it
takes), but after it in batches of short transactions:
:func:`loopwright.store.sql.maintenance.backfill_experiment_ids`, which ``upgrade()`` runs.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# literal bounds: the same text as tables.value_prefix, so the planner matches query to index
_PREFIX = sa.text("substr(value, 1, 200)")


def upgrade() -> None:
    for table in ("latest_metrics", "params", "run_tags"):
        with op.batch_alter_table(table, schema=None, recreate="never") as batch_op:
            batch_op.add_column(sa.Column("experiment_id", sa.String(32), nullable=True))
    op.create_index(
        "ix_latest_metrics_experiment_id_key_value", "latest_metrics", ["experiment_id", "key", "value"]
    )
    op.create_index(
        "ix_params_experiment_id_key_value", "params", [sa.text("experiment_id"), sa.text("key"), _PREFIX]
    )
    op.create_index(
        "ix_run_tags_experiment_id_key_value", "run_tags", [sa.text("experiment_id"), sa.text("key"), _PREFIX]
    )
    _create_triggers()


_TABLES = ("latest_metrics", "params", "run_tags")


def _create_triggers() -> None:
    if op.get_bind().dialect.name == "sqlite":
        # SQLite cannot assign NEW in a BEFORE trigger: update the row just inserted (by its key)
        for table in _TABLES:
            op.execute(
                f"CREATE TRIGGER {table}_experiment_id AFTER INSERT ON {table} "
                "FOR EACH ROW WHEN NEW.experiment_id IS NULL BEGIN "
                f"UPDATE {table} SET experiment_id = (SELECT experiment_id FROM runs WHERE id = NEW.run_id) "
                "WHERE run_id = NEW.run_id AND key = NEW.key; END"
            )
        return
    op.execute(
        "CREATE FUNCTION lw_fill_experiment_id() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "IF NEW.experiment_id IS NULL THEN "
        "SELECT experiment_id INTO NEW.experiment_id FROM runs WHERE id = NEW.run_id; END IF; "
        "RETURN NEW; END $$"
    )
    for table in _TABLES:
        op.execute(
            f"CREATE TRIGGER {table}_experiment_id BEFORE INSERT ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION lw_fill_experiment_id()"
        )


def downgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    for table in _TABLES:
        op.execute(f"DROP TRIGGER {table}_experiment_id" + (f" ON {table}" if postgresql else ""))
    if postgresql:
        op.execute("DROP FUNCTION lw_fill_experiment_id()")
    for table in ("run_tags", "params", "latest_metrics"):
        op.drop_index(f"ix_{table}_experiment_id_key_value", table_name=table)
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("experiment_id")
