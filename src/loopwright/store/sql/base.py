"""What every SQL mixin shares: the engine, transactions and dialect-aware upserts."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from loopwright.errors import InvalidInput, NotFound
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

    # -- idempotent write requests (the platform server's retries) ------------------------------
    def save_idempotent_response(self, key: str, response: str) -> None:
        """Keep the answer of the write request ``key`` claimed, for a retry to get it again."""
        from loopwright.store.sql.tables import idempotency_keys as table

        with write_transaction(self.engine) as conn:
            conn.execute(table.update().where(table.c.key == key).values(response=response))

    def idempotent_response(self, key: str) -> str | None:
        """The answer saved for an applied write request (``None``: none saved, or never applied)."""
        from loopwright.store.sql.tables import idempotency_keys as table

        with read_transaction(self.engine) as conn:
            return conn.execute(sa.select(table.c.response).where(table.c.key == key)).scalar()

    def _insert(self, table: sa.Table) -> Any:
        """``INSERT`` that supports ``on_conflict_do_*`` on both SQLite and PostgreSQL."""
        if self.engine.dialect.name == "postgresql":
            return postgresql.insert(table)
        return sqlite.insert(table)

    @property
    def _is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"


#: the shortest id prefix a lookup accepts (what the CLI's tables show at least)
MIN_ID_PREFIX = 8


def unique_prefix_row(conn: Connection, table: sa.Table, prefix: str, what: str) -> Any:
    """The one row of ``table`` whose ``id`` starts with ``prefix``; NotFound or InvalidInput otherwise."""
    if len(prefix) < MIN_ID_PREFIX or not all(c in "0123456789abcdef" for c in prefix):
        raise NotFound(f"{what} {prefix!r} not found")
    rows = conn.execute(sa.select(table).where(table.c.id.startswith(prefix)).limit(2)).all()
    if not rows:
        raise NotFound(f"{what} {prefix!r} not found")
    if len(rows) > 1:
        raise InvalidInput(
            f"{what} id prefix {prefix!r} is ambiguous: it starts {rows[0].id} and {rows[1].id}"
        )
    return rows[0]
