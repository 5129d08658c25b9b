"""SQL implementation of the store (SQLAlchemy Core + Alembic)."""

from loopwright.store.sql.store import SqlStore

__all__ = ["SqlStore"]
