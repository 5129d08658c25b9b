"""Search at scale, checked at small sizes (the timings are bench/scale.py's): the split metric-ordered
search and keyset pages equal one OFFSET-paged search, param filters longer than the index prefix,
migration 0006's indexes and backfill, ``db upgrade`` refreshing planner statistics, and the upgrade
of a populated store never making a concurrent writer wait more than a few seconds."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa

from cli_process import run_cli
from loopwright.store.entities import MetricPoint
from loopwright.store.sql import SqlStore
from loopwright.store.sql.engine import create_engine, upgrade

# the suite's server (tests/conftest.py's PG_URI), by value: under xdist `conftest` may name another one
PG_URI = os.environ.get("LOOPWRIGHT_TEST_PG", "postgresql+psycopg://root@127.0.0.1:5432/test")
ORDERS = [["metrics.m0"], ["metrics.m0 DESC"], ["params.p0", "metrics.m1 DESC"], ["tags.t DESC"]]
LONG = "x" * 250  # longer than the 200-character index prefix: two values share a prefix


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_uri(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database with no schema yet (tests migrate it themselves)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'lw.db'}"
        return
    schema = f"lw_scale_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(PG_URI, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    try:
        yield f"{PG_URI}?options=-csearch_path%3D{schema}"
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def _populate(store: SqlStore, n: int = 60) -> tuple[str, str]:
    """Two experiments; runs with missing metrics, NaN, ties and param values past the prefix."""
    exp, other = store.create_experiment("scale").id, store.create_experiment("other").id
    points = []
    for i in range(n):
        experiment = exp if i % 6 else other
        run = store.create_run(
            experiment, start_ms=1_700_000_000_000 + (i // 4) * 1000, tags={"t": str(i % 5)}
        )
        if i % 7:
            value = math.nan if i % 11 == 0 else float(i * 37 % 13)
            points.append((run.id, MetricPoint("m0", value, 0, 1)))
        points.append((run.id, MetricPoint("m1", float(i % 3), 0, 1)))
        store.log_params(run.id, {"p0": str(i % 4), "long": LONG + str(i % 2)})
    store.log_metrics(points)
    return exp, other


def _offset_pages(store: SqlStore, exp: str, order: list[str], flt: str | None, size: int) -> list[str]:
    ids: list[str] = []
    while True:
        page = store.search_runs([exp], filter=flt, order_by=order, max_results=size, offset=len(ids))
        ids += [r.id for r in page]
        if len(page) < size:
            return ids


def _keyset_pages(store: SqlStore, exp: str, order: list[str], flt: str | None, size: int) -> list[str]:
    ids: list[str] = []
    after = None
    while True:
        page = store.search_runs([exp], filter=flt, order_by=order, max_results=size, after_run_id=after)
        ids += [r.id for r in page]
        if len(page) < size:
            return ids
        after = page[-1].id


def test_keyset_pages_equal_offset_pages(empty_uri: str) -> None:
    store = SqlStore(empty_uri)
    exp, other = _populate(store)
    every = {r.id for r in store.search_runs([exp], max_results=1000)}
    for order in ORDERS:
        for flt in (None, f"params.long = '{LONG}1' and metrics.m1 >= 1"):
            by_offset = _offset_pages(store, exp, order, flt, 9)
            assert _keyset_pages(store, exp, order, flt, 9) == by_offset, (order, flt)
            assert set(by_offset) <= every
            whole = [r.id for r in store.search_runs([exp], filter=flt, order_by=order, max_results=1000)]
            assert whole == by_offset, (order, flt)
    # runs without m0 (or NaN) come after every run with a value, in start-time order
    ranked = store.search_runs([exp], order_by=["metrics.m0"], max_results=1000)
    values = [r.metrics.get("m0", math.nan) for r in ranked]
    present = [v for v in values if not math.isnan(v)]
    assert present == sorted(present) and values[: len(present)] == present
    assert len(ranked) == len(every) == 50
    # the prefix condition never stands in for the whole value: 250 shared characters, then 0 or 1
    long1 = store.search_runs([exp], filter=f"params.long = '{LONG}1'", max_results=1000)
    assert long1 and all(r.params["long"] == LONG + "1" for r in long1)
    assert {r.experiment_id for r in store.search_runs([other], order_by=["metrics.m0"])} == {other}
    store.close()


def test_migration_adds_indexes_triggers_and_backfills(empty_uri: str) -> None:
    engine = create_engine(empty_uri)
    upgrade(engine, "0005")
    with engine.begin() as conn:  # rows written before 0006, as a server of the previous version did
        conn.execute(
            sa.text(
                "INSERT INTO experiments (id, name, lifecycle, created_ms) VALUES ('e1', 'e', 'active', 1)"
            )
        )
    _old_writes(engine, "e1", 0, 30)
    upgrade(engine)
    with engine.connect() as conn:  # expression indexes are not reflected: ask the catalogue
        if engine.dialect.name == "sqlite":
            listed = "SELECT name FROM sqlite_master WHERE type = 'index'"
        else:
            listed = "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()"
        names = set(conn.execute(sa.text(listed)).scalars())
    for table in ("params", "run_tags"):
        assert f"ix_{table}_experiment_id_key_value" in names, (table, names)
    # 0007 put run_id into the metric index (read from it, not the table); the old one is gone
    assert "ix_latest_metrics_experiment_id_key_value_run_id" in names
    assert "ix_latest_metrics_experiment_id_key_value" not in names
    _old_writes(engine, "e1", 30, 40)  # a pre-0006 writer after the upgrade: the trigger fills the column
    with engine.connect() as conn:
        for table in ("latest_metrics", "params", "run_tags"):
            missing = conn.execute(
                sa.text(f"SELECT count(*) FROM {table} WHERE experiment_id IS NULL")
            ).scalar()
            total = conn.execute(sa.text(f"SELECT count(*) FROM {table} WHERE experiment_id = 'e1'")).scalar()
            assert (missing, total) == (0, 40), table
    store = SqlStore(empty_uri)
    found = store.search_runs(["e1"], filter="params.p = '3'", order_by=["metrics.m DESC"], max_results=5)
    assert [r.metrics["m"] for r in found] == [39.0, 35.0, 31.0, 27.0, 23.0]
    store.close()
    engine.dispose()


def _old_writes(engine: sa.Engine, experiment: str, start: int, stop: int) -> None:
    """Runs with a param, a tag and a latest metric, in the columns migration 0005 knows."""
    with engine.begin() as conn:
        for i in range(start, stop):
            run = f"{i:032x}"
            conn.execute(
                sa.text(
                    "INSERT INTO runs (id, experiment_id, name, status, start_ms, lifecycle) "
                    "VALUES (:r, :e, 'old', 'running', :s, 'active')"
                ),
                {"r": run, "e": experiment, "s": 1_700_000_000_000 + i},
            )
            conn.execute(
                sa.text("INSERT INTO params (run_id, key, value) VALUES (:r, 'p', :v)"),
                {"r": run, "v": str(i % 4)},
            )
            conn.execute(
                sa.text("INSERT INTO run_tags (run_id, key, value) VALUES (:r, 't', 'x')"), {"r": run}
            )
            conn.execute(
                sa.text(
                    "INSERT INTO latest_metrics (run_id, key, value, step, timestamp_ms) VALUES (:r, 'm', :v, 0, 1)"
                ),
                {"r": run, "v": float(i)},
            )


def test_db_upgrade_refreshes_planner_statistics(empty_uri: str) -> None:
    store = SqlStore(empty_uri)
    _populate(store, 24)
    store.close()
    result = run_cli("db", "upgrade", "--store-uri", empty_uri)
    assert result.returncode == 0, result.stderr
    assert "planner statistics" in result.stdout
    engine = create_engine(empty_uri)
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            analysed = {row[0] for row in conn.execute(sa.text("SELECT tbl FROM sqlite_stat1"))}
        else:
            analysed = {
                row[0]
                for row in conn.execute(
                    sa.text(
                        "SELECT relname FROM pg_stat_user_tables "
                        "WHERE schemaname = current_schema() AND last_analyze IS NOT NULL"
                    )
                )
            }
    engine.dispose()
    assert {"runs", "latest_metrics", "params"} <= analysed


WRITER = textwrap.dedent(
    """
    import sys, time, sqlalchemy as sa
    uri, experiment, stop_file = sys.argv[1:4]
    engine = sa.create_engine(uri, connect_args={"timeout": 120} if uri.startswith("sqlite") else {})
    worst, done, i = 0.0, 0, 10_000_000
    import os
    while not os.path.exists(stop_file):
        started = time.monotonic()
        with engine.begin() as conn:
            run = f"{i:032x}"
            conn.execute(sa.text("INSERT INTO runs (id, experiment_id, name, status, start_ms, lifecycle) "
                                 "VALUES (:r, :e, 'w', 'running', 1, 'active')"), {"r": run, "e": experiment})
            conn.execute(sa.text("INSERT INTO params (run_id, key, value) VALUES (:r, 'p', '1')"), {"r": run})
            conn.execute(sa.text("INSERT INTO latest_metrics (run_id, key, value, step, timestamp_ms) "
                                 "VALUES (:r, 'm', 1.0, 0, 1)"), {"r": run})
        worst = max(worst, time.monotonic() - started)
        done += 1
        i += 1
        time.sleep(0.005)
    print(done, worst)
    """
)


def test_upgrade_of_a_populated_store_never_blocks_a_writer_long(empty_uri: str, tmp_path: Path) -> None:
    engine = create_engine(empty_uri)
    upgrade(engine, "0005")
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO experiments (id, name, lifecycle, created_ms) VALUES ('e1', 'e', 'active', 1)"
            )
        )
    _bulk_old_rows(engine, "e1", 3000)
    stop = tmp_path / "stop"
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, empty_uri, "e1", str(stop)], stdout=subprocess.PIPE, text=True
    )
    try:
        time.sleep(1.0)  # the writer is going before the upgrade starts
        started = time.monotonic()
        upgrade(engine)
        upgrade_s = time.monotonic() - started
        time.sleep(0.5)
    finally:
        stop.touch()
        out, _ = writer.communicate(timeout=60)
    done, worst = out.split()
    assert int(done) > 10
    # a lock held through the backfill would make a write wait about as long as the upgrade took; the
    # bound is relative (and never below 10 s) so a loaded CI machine does not fail it by being slow
    assert float(worst) < max(10.0, upgrade_s / 2), f"a write waited {worst} s of a {upgrade_s:.1f} s upgrade"
    with engine.connect() as conn:
        missing = conn.execute(sa.text("SELECT count(*) FROM params WHERE experiment_id IS NULL")).scalar()
        total = conn.execute(sa.text("SELECT count(*) FROM params")).scalar()
    engine.dispose()
    assert missing == 0 and total == 3000 * 5 + int(done)


def _bulk_old_rows(engine: sa.Engine, experiment: str, n: int) -> None:
    """``n`` runs with 5 params and 5 latest metrics each, written in the 0005 columns."""
    ids = [uuid.uuid4().hex for _ in range(n)]
    keys = range(5)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO runs (id, experiment_id, name, status, start_ms, lifecycle) "
                "VALUES (:r, :e, 'old', 'finished', 1, 'active')"
            ),
            [{"r": r, "e": experiment} for r in ids],
        )
        conn.execute(
            sa.text("INSERT INTO params (run_id, key, value) VALUES (:r, :k, :v)"),
            [{"r": r, "k": f"p{k}", "v": str(k)} for r in ids for k in keys],
        )
        conn.execute(
            sa.text(
                "INSERT INTO latest_metrics (run_id, key, value, step, timestamp_ms) VALUES (:r, :k, :v, 0, 1)"
            ),
            [{"r": r, "k": f"m{k}", "v": float(k)} for r in ids for k in keys],
        )


def test_history_arrays_equal_the_point_list(empty_uri: str) -> None:
    store = SqlStore(empty_uri)
    run = store.create_run(store.create_experiment("h").id)
    # out of order, a repeated step, a NaN and a second key that must not leak in
    steps = [5, 1, 3, 3, 0, 2, 4]
    points = [
        (run.id, MetricPoint("loss", math.nan if s == 2 else s / 10, s, 100 + i)) for i, s in enumerate(steps)
    ]
    store.log_metrics([*points, (run.id, MetricPoint("acc", 1.0, 0, 1))])
    arrays = store.get_metric_history_arrays(run.id, "loss")
    listed = store.list_metric_history(run.id, "loss")
    assert arrays.steps.tolist() == [p.step for p in listed] == [0, 1, 2, 3, 3, 4, 5]
    assert arrays.timestamps.tolist() == [p.timestamp for p in listed]
    assert np.allclose(arrays.values, [p.value for p in listed], equal_nan=True)
    assert math.isnan(arrays.values[2]) and arrays.values.dtype == np.float64
    assert store.get_metric_history_arrays(run.id, "none").steps.size == 0
    # a call with many points takes the bulk path (COPY on PostgreSQL, the driver's executemany on SQLite)
    store.log_metrics(
        [(run.id, MetricPoint("long", math.nan if s == 7 else s * 0.5, s, s)) for s in range(500)]
    )
    long = store.get_metric_history_arrays(run.id, "long")
    assert long.steps.tolist() == list(range(500)) and long.timestamps.tolist() == list(range(500))
    assert math.isnan(long.values[7]) and long.values[499] == 249.5
    assert store.get_run(run.id).metrics["long"] == 249.5
    store.close()
