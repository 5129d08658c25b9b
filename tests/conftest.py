"""Shared fixtures: a real SQLite file and a real PostgreSQL schema for every store test."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

import loopwright as lw
from loopwright.store import Store, open_store
from loopwright.store.sql import SqlStore
from loopwright.store.sql.tables import metadata

# rich sizes its consoles when loopwright.cli is first imported; whichever test imports it first (and
# in whichever pytest-xdist worker), tables of in-process CLI tests must not wrap at 80 columns
os.environ["COLUMNS"] = "250"

PG_URI = os.environ.get("LOOPWRIGHT_TEST_PG", "postgresql+psycopg://root@127.0.0.1:5432/test")
BACKENDS = ["sqlite", "postgresql", "rest"]
# the store suite runs through a real server too (the `rest` backend); the rest of the suite tests other
# rooms on top of a store, where a third backend would add minutes and no new path: SQLite and PostgreSQL
REST_SUITES = ("tests/store/", "tests/tracking/", "tests/registry/", "tests/llm/", "tests/loop/test_store.py")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run each test that needs ``store_uri`` on every backend of its suite (unless it names its own)."""
    if "store_uri" not in metafunc.fixturenames:
        return
    if any("store_uri" in str(m.args[0]) for m in metafunc.definition.iter_markers("parametrize")):
        return
    path = metafunc.definition.path.as_posix()
    backends = BACKENDS if any(suite in path for suite in REST_SUITES) else BACKENDS[:2]
    metafunc.parametrize("store_uri", backends, indirect=True)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied per test (migrating each time would cost ~0.3 s)."""
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    SqlStore(f"sqlite:///{path}").close()
    return path


@pytest.fixture(scope="session")
def pg_schema_uri() -> Iterator[str]:
    """A fresh PostgreSQL schema for this test session, dropped at the end."""
    schema = f"lw_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(PG_URI, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    uri = f"{PG_URI}?options=-csearch_path%3D{schema}"
    SqlStore(uri).close()
    try:
        yield uri
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def _truncate(uri: str) -> None:
    engine = sa.create_engine(uri)
    names = ", ".join(t.name for t in metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(sa.text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture(scope="session")
def rest_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """A real ``loopwright server`` process on its own PostgreSQL schema: (its URL, that schema's URI)."""
    from cli_process import PlatformServer

    schema = f"lw_rest_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(PG_URI, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    backing = f"{PG_URI}?options=-csearch_path%3D{schema}"
    artifacts = tmp_path_factory.mktemp("rest-artifacts")
    server = PlatformServer("--store-uri", backing, "--artifact-uri", str(artifacts))
    try:
        yield server.url, backing
    finally:
        log = server.stop()
        if " 500 " in log or "Traceback" in log:  # the suite passing through it must not have hidden one
            print(log[-5000:])
        with admin.connect() as conn:
            conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def _clean_store(request: pytest.FixtureRequest, backend: str, tmp_path: Path) -> str:
    if backend == "rest":
        url, backing = request.getfixturevalue("rest_server")
        _truncate(backing)
        return str(url)
    if backend == "sqlite":
        path = tmp_path / "store.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    uri: str = request.getfixturevalue("pg_schema_uri")
    _truncate(uri)
    return uri


@pytest.fixture
def store_uri(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A clean, migrated store: a new SQLite file, the session's PostgreSQL schema emptied, or a
    ``loopwright server`` process (on its own PostgreSQL schema, emptied) through ``RestStore``."""
    return _clean_store(request, request.param, tmp_path)


@pytest.fixture(params=["sqlite", "postgresql"])
def sql_store_uri(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Like ``store_uri`` for tests of the SQL schema itself (no server in between)."""
    return _clean_store(request, request.param, tmp_path)


@pytest.fixture
def store(store_uri: str) -> Iterator[Store]:
    s = open_store(store_uri)
    yield s
    s.close()


@pytest.fixture
def lw_env(store_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Point the fluent API at a clean store and artifact folder; returns LOOPWRIGHT_HOME."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("LOOPWRIGHT_HOME", str(home))
    monkeypatch.setenv("LOOPWRIGHT_STORE_URI", store_uri)
    monkeypatch.setenv("LOOPWRIGHT_ARTIFACT_URI", str(home / "artifacts"))
    _reset_fluent()
    yield home
    _reset_fluent()


@pytest.fixture
def sqlite_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sqlite_template: Path) -> Iterator[Path]:
    """Like ``lw_env`` on SQLite only, for tests about something other than the store."""
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(sqlite_template, home / "loopwright.db")
    monkeypatch.setenv("LOOPWRIGHT_HOME", str(home))
    monkeypatch.delenv("LOOPWRIGHT_STORE_URI", raising=False)
    monkeypatch.delenv("LOOPWRIGHT_ARTIFACT_URI", raising=False)
    _reset_fluent()
    yield home
    _reset_fluent()


def _reset_fluent() -> None:
    while lw.active_run() is not None:
        lw.end_run()
    lw.reset_clients()
