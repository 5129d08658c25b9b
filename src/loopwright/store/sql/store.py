"""``SqlStore``: the :class:`~loopwright.store.Store` on SQLite or PostgreSQL."""

from __future__ import annotations

from loopwright.store.interface import Store
from loopwright.store.sql.engine import create_engine, ensure_schema
from loopwright.store.sql.lineage import LineageSql
from loopwright.store.sql.loop import LoopSql
from loopwright.store.sql.monitoring import MonitoringSql
from loopwright.store.sql.pipelines import PipelinesSql
from loopwright.store.sql.registry import RegistrySql
from loopwright.store.sql.serving import ServingSql
from loopwright.store.sql.tokens import TokensSql
from loopwright.store.sql.traces import TracesSql
from loopwright.store.sql.tracking import TrackingSql


class SqlStore(
    TrackingSql,
    RegistrySql,
    LineageSql,
    PipelinesSql,
    ServingSql,
    MonitoringSql,
    LoopSql,
    TokensSql,
    TracesSql,
    Store,
):
    """Metadata in SQL; the schema is migrated to head on first use.

    Parameters
    ----------
    uri:
        ``sqlite:///path/to/file.db`` or ``postgresql+psycopg://user@host:5432/db``.
    migrate:
        Apply pending Alembic migrations at construction (default). ``loopwright db upgrade``
        does the same explicitly.

    Examples
    --------
    >>> import tempfile, os
    >>> store = SqlStore(f"sqlite:///{tempfile.mkdtemp()}/lw.db")
    >>> store.create_experiment("churn").name
    'churn'
    >>> store.close()
    """

    def __init__(self, uri: str, migrate: bool = True):
        self.uri = uri
        self.engine = create_engine(uri)
        if migrate:
            ensure_schema(self.engine)

    def close(self) -> None:
        self.engine.dispose()

    def __repr__(self) -> str:
        return f"SqlStore({self.engine.url.render_as_string(hide_password=True)!r})"
