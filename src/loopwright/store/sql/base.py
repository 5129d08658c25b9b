"""What every SQL mixin shares: the engine, transactions and dialect-aware upserts."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from loopwright.store.sql.engine import read_transaction, write_transaction


class SqlBase:
    """Holds the engine; mixins per domain (tracking, registry, …) build on it."""

    engine: Engine
    uri: str

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        with write_transaction(self.engine) as conn:
            yield conn

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with read_transaction(self.engine) as conn:
            yield conn

    def _insert(self, table: sa.Table) -> Any:
        """``INSERT`` that supports ``on_conflict_do_*`` on both SQLite and PostgreSQL."""
        if self.engine.dialect.name == "postgresql":
            return postgresql.insert(table)
        return sqlite.insert(table)

    @property
    def _is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"
