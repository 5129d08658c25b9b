"""Upkeep of a populated store: the batched backfill migration 0006 needs, and planner statistics.

Both run from ``loopwright db upgrade`` (the backfill also after every migration). Each backfill
batch is its own short write transaction, so writers wait at most one batch (well under a second),
never for the whole copy; rows a pre-0006 server writes during an upgrade are picked up by the
next call.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from loopwright.store.sql.engine import write_transaction
from loopwright.store.sql.tables import latest_metrics, params, run_tags, runs

#: (run, key) rows per backfill transaction
BACKFILL_BATCH = 5000
#: the tables a run search reads; what ``analyze`` refreshes on PostgreSQL
SEARCH_TABLES = ("runs", "latest_metrics", "params", "run_tags", "metrics", "experiments")
#: rows SQLite's ANALYZE reads per index: approximate statistics in well under a second per table
SQLITE_ANALYSIS_LIMIT = 10000


def backfill_experiment_ids(engine: Engine, batch: int = BACKFILL_BATCH) -> int:
    """Copy each run's experiment_id into its params, tags and latest metrics where it is NULL.

    Returns how many rows it filled. The NULL rows are found through the
    ``(experiment_id, key, …)`` indexes (NULLs lead them), so a store with none left costs three
    index probes.
    """
    filled = 0
    for table in (latest_metrics, params, run_tags):
        owner = sa.select(runs.c.experiment_id).where(runs.c.id == table.c.run_id).scalar_subquery()
        while True:
            pending = sa.select(table.c.run_id).where(table.c.experiment_id.is_(None)).limit(batch)
            with write_transaction(engine) as conn:
                done = conn.execute(
                    table.update()
                    .where(table.c.experiment_id.is_(None), table.c.run_id.in_(pending.scalar_subquery()))
                    .values(experiment_id=owner)
                ).rowcount
            filled += max(done, 0)
            if done <= 0:
                break
    return filled


def analyze(engine: Engine) -> None:
    """Refresh the query planner's statistics (SQLite keeps none until ANALYZE runs).

    SQLite: ``ANALYZE`` with an ``analysis_limit`` (sampled, fast on millions of rows), then
    ``PRAGMA optimize``. PostgreSQL: ``ANALYZE`` of the tables a run search reads (autovacuum
    does this too, but only after enough rows changed).
    """
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            conn.exec_driver_sql(f"PRAGMA analysis_limit={SQLITE_ANALYSIS_LIMIT}")
            conn.exec_driver_sql("ANALYZE")
            conn.exec_driver_sql("PRAGMA optimize")
        else:
            conn.exec_driver_sql(f"ANALYZE {', '.join(SEARCH_TABLES)}")
        conn.commit()
