"""The migrated schema equals the declared tables; upgrade is idempotent and runs on first use."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from loopwright.store.sql import SqlStore
from loopwright.store.sql.engine import create_engine, current_revision, head_revision, upgrade
from loopwright.store.sql.tables import metadata


def test_migrations_match_tables(sql_store_uri: str) -> None:
    engine = sa.create_engine(sql_store_uri)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    engine.dispose()
    assert diff == []


def test_first_use_migrates_and_upgrade_is_idempotent(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'nested' / 'lw.db'}"
    engine = create_engine(uri)
    assert current_revision(engine) is None
    SqlStore(uri).close()
    assert current_revision(engine) == head_revision()
    assert upgrade(engine) == head_revision()
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    engine.dispose()
