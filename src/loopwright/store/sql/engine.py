"""Engines for SQLite and PostgreSQL, and the schema upgrade applied on first use.

SQLite is tuned for several processes writing one file: WAL journal (readers never block the
writer), a long busy timeout, and ``BEGIN IMMEDIATE`` for write transactions so two writers
queue for the lock up front instead of deadlocking on a read→write upgrade.
"""

from __future__ import annotations

import fcntl
import logging
import random
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from loopwright.errors import InvalidInput, Unavailable
from loopwright.store import mask_password

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
SQLITE_BUSY_TIMEOUT_S = 120
MIGRATION_ATTEMPTS = 5
PG_CONNECT_TIMEOUT_S = 5  # a ?connect_timeout= in the URI wins
PING_AFTER_IDLE_S = 5.0


def create_engine(uri: str) -> Engine:
    """Build an engine for ``sqlite:///…`` or ``postgresql+psycopg://…``."""
    where = mask_password(uri)  # error messages never show the password
    try:
        url = sa.make_url(uri)
    except (sa.exc.ArgumentError, ValueError) as error:  # a port that is not a number is a ValueError
        raise _invalid_uri(where, error) from None
    backend = url.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise InvalidInput(f"unsupported store URI {where!r}: use sqlite:///PATH or postgresql+psycopg://…")
    if "@" in (url.host or ""):
        raise InvalidInput(f"invalid store URI {where!r}: write an '@' inside the password as %40")
    try:
        if backend == "sqlite":
            return _sqlite_engine(url)
        # a database that stopped answering fails within seconds (connect timeout) instead of hanging
        # the request: the server answers 503 and recovers by itself
        connect_args = {} if "connect_timeout" in url.query else {"connect_timeout": PG_CONNECT_TIMEOUT_S}
        engine = sa.create_engine(url, pool_size=5, max_overflow=10, connect_args=connect_args)
        _ping_idle_connections(engine)
        return engine
    except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError) as error:  # a bad SQLite form, no such driver
        raise _invalid_uri(where, error) from None


def _ping_idle_connections(engine: Engine) -> None:
    """Ping a pooled PostgreSQL connection before use only if it sat idle ``PING_AFTER_IDLE_S``.

    SQLAlchemy's ``pool_pre_ping`` pings on every checkout: one more round trip per transaction,
    a fifth of what a run start costs through the server. Connections that just served a request are
    used as they are; if the database went away meanwhile, the statement fails, the request answers
    503 and SQLAlchemy drops every pooled connection (a disconnect invalidates the whole pool), so the
    next request connects afresh. Idle ones (a restart or an idle timeout may have closed them) are
    pinged, and a dead one is replaced before the request sees it.
    """

    @sa.event.listens_for(engine, "checkin")
    def _idle_from(_dbapi_conn: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @sa.event.listens_for(engine, "checkout")
    def _ping_if_idle(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.get("idle_since")
        if idle_since is None or time.monotonic() - idle_since < PING_AFTER_IDLE_S:
            return
        try:
            engine.dialect.do_ping(dbapi_conn)
        except Exception as error:  # the pool replaces the connection and checks out again
            raise sa.exc.DisconnectionError(f"an idle connection is gone: {error}") from error


def _invalid_uri(where: str, error: Exception) -> InvalidInput:
    reason = str(error).strip().splitlines()[0]
    return InvalidInput(f"invalid store URI {where!r}: {reason}")


def _sqlite_engine(url: sa.URL) -> Engine:
    if url.database and url.database != ":memory:":
        folder = Path(url.database).parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise Unavailable(f"cannot create the store folder {str(folder)!r}: {error.strerror}") from None
    engine = sa.create_engine(
        url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S, "check_same_thread": False}
    )

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves, below
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_S * 1000}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get("loopwright_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


class AlreadyApplied(Exception):
    """The write request with this idempotency key was committed before (by this or another server)."""


# the Idempotency-Key of the request being served; its first write transaction claims it
_idempotency_key: ContextVar[str | None] = ContextVar("loopwright_idempotency_key", default=None)
IDEMPOTENCY_TTL_MS = 24 * 3600 * 1000


@contextmanager
def idempotent(key: str | None) -> Iterator[None]:
    """Make the next write transaction in this context apply only once for ``key``.

    The key is inserted in that transaction, so it commits with the write or not at all: a client
    retrying after a server died mid-request (on another server) gets :class:`AlreadyApplied`
    instead of a second copy of its write.
    """
    token = _idempotency_key.set(key)
    try:
        yield
    finally:
        _idempotency_key.reset(token)


def _claim(conn: Connection, key: str) -> None:
    from loopwright.store.sql.tables import idempotency_keys

    now = int(time.time() * 1000)
    table = idempotency_keys
    insert = (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(table)
    # RETURNING, not rowcount: psycopg reports -1 rows for an INSERT … ON CONFLICT DO NOTHING
    claim = insert.values(key=key, created_ms=now).on_conflict_do_nothing().returning(table.c.key)
    if conn.execute(claim).first() is None:
        raise AlreadyApplied(key)
    if random.random() < 0.001:  # keys only matter while clients retry: drop day-old ones now and then
        conn.execute(table.delete().where(table.c.created_ms < now - IDEMPOTENCY_TTL_MS))


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """A transaction that will write: takes SQLite's write lock at BEGIN."""
    with engine.connect() as conn:
        conn.execution_options(loopwright_write=True)
        with conn.begin():
            key = _idempotency_key.get()
            if key is not None:
                _idempotency_key.set(None)  # the request's first write carries it, once
                _claim(conn, key)
            yield conn


@contextmanager
def read_transaction(engine: Engine) -> Iterator[Connection]:
    """A consistent read snapshot."""
    with engine.connect() as conn, conn.begin():
        yield conn


def head_revision() -> str:
    """The newest Alembic revision shipped with this package."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, or ``None`` for an empty database."""
    try:
        with engine.connect() as conn:
            if not sa.inspect(conn).has_table("alembic_version"):
                return None
            return conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
    except sa.exc.OperationalError as error:
        raise unavailable(engine, error) from None


def upgrade(engine: Engine, revision: str = "head") -> str:
    """Apply migrations up to ``revision``; safe when several processes start at once."""
    from alembic import command
    from alembic.config import Config
    from alembic.util import CommandError

    for attempt in range(MIGRATION_ATTEMPTS):
        try:
            with _migration_lock(engine) as conn:
                config = Config()
                config.set_main_option("script_location", str(MIGRATIONS_DIR))
                config.attributes["connection"] = conn
                command.upgrade(config, revision)
                conn.commit()
            break
        except sa.exc.OperationalError as error:
            # SQLite answers "locked" at once (no busy wait) when a schema change meets another
            # process's write: each migration is its own transaction, so trying again is safe
            if "database is locked" in str(error) and attempt + 1 < MIGRATION_ATTEMPTS:
                time.sleep(0.5 * (attempt + 1))
                continue
            raise unavailable(engine, error) from None
        except OSError as error:
            raise unavailable(engine, error) from None
        except CommandError as error:
            raise InvalidInput(f"cannot upgrade the store to {revision!r}: {error}") from None
    revision_now = current_revision(engine)
    assert revision_now is not None
    if _has_column(engine, "params", "experiment_id"):  # 0006 on: its copy runs in short batches, here
        from loopwright.store.sql.maintenance import backfill_experiment_ids

        backfill_experiment_ids(engine)
    return revision_now


def _has_column(engine: Engine, table: str, column: str) -> bool:
    with engine.connect() as conn:
        return column in {c["name"] for c in sa.inspect(conn).get_columns(table)}


def unavailable(engine: Engine, error: BaseException) -> Unavailable:
    """One line saying which store could not be opened and why (the driver's reason, no hints)."""
    reason = str(getattr(error, "orig", None) or error).split("(Background on this error")[0]
    where = engine.url.render_as_string(hide_password=True)
    return Unavailable(f"cannot open the store {where}: {' '.join(reason.split())}")


def ensure_schema(engine: Engine) -> None:
    """Upgrade to head unless the database is there already (one cheap query when it is)."""
    try:
        current = current_revision(engine)
    except Unavailable:  # upgrade() below retries under the migration lock, and says why if it fails
        current = None
    if current != head_revision():
        log.info("upgrading store schema from %s to head", current)
        upgrade(engine)


@contextmanager
def _migration_lock(engine: Engine) -> Iterator[Connection]:
    if engine.dialect.name == "sqlite":
        database = engine.url.database
        lock_path = Path(f"{database}.migrate.lock") if database and database != ":memory:" else None
        if lock_path is None:
            with engine.connect() as conn:
                yield conn
            return
        with lock_path.open("w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                with engine.connect() as conn:
                    # BEGIN IMMEDIATE: a deferred migration transaction that read first fails with
                    # "database is locked" (no busy wait) once a concurrent writer commits before its write
                    conn.execution_options(loopwright_write=True)
                    yield conn
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
        return
    with engine.connect() as conn:
        conn.execute(sa.text("SELECT pg_advisory_lock(7158310)"))
        conn.commit()
        try:
            yield conn
        finally:
            conn.rollback()
            conn.execute(sa.text("SELECT pg_advisory_unlock(7158310)"))
            conn.commit()
