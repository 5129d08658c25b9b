"""Issue 17 item 1 — the store at scale, Loopwright vs MLflow on the same data and machine.

Loads ``--runs`` runs in ``--experiments`` experiments (10 params, 10 metrics each) plus
``--history-runs`` runs with 10 metrics of ``--steps`` steps, into SQLite and PostgreSQL, then times
(median of ``--repeats``, after a warm-up) a filtered + ordered search (first 100), an ordered-only
search, a keyset page deep in the experiment, ``get_run`` and one key's history (as arrays and as
points; the worst repeat too, which is where a garbage-collector pause shows). MLflow 3.17.2
(``bench/refenv.py``) is loaded with ``log_batch`` through its SqlAlchemyStore at ``--mlflow-runs``
runs and timed on the same queries; Loopwright is timed at that size too, so each ratio compares
equal data. Plans (EXPLAIN) of Loopwright's queries are recorded.

Loading: runs, params and latest metrics go into the store's tables by executemany (the rows
``create_run``/``log_params``/``log_metrics`` write, without 100,000 transactions); histories go
through ``SqlStore.log_metrics`` — the bulk path users have (COPY on PostgreSQL, executemany on
SQLite) — and its points/s is reported.

    .venv/bin/python bench/scale.py --runs 100000 --history-runs 100 --mlflow-runs 10000 \\
        --out bench/results/scale.json
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from loopwright.store.entities import MetricPoint
from loopwright.store.search import parse_filter, parse_order_by
from loopwright.store.sql import SqlStore
from loopwright.store.sql.maintenance import analyze
from loopwright.store.sql.query import search_parts
from loopwright.store.sql.tables import experiments, latest_metrics, metrics, params, runs
from loopwright.store.sql.tracking import RUN_SEARCH

HERE = Path(__file__).resolve().parent
PG = "postgresql+psycopg://root@127.0.0.1:5432/test"
FILTER = "metrics.m0 > 0.5 and params.p0 = 'v3'"
ORDER = ["metrics.m1 DESC"]
N_KEYS = 10


def timed(fn: Callable[[], Any], repeats: int) -> dict[str, float]:
    fn()  # warm caches and the connection pool
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    return {"median_ms": round(statistics.median(samples), 3), "max_ms": round(max(samples), 3)}


def _bulk(store: SqlStore, table: Any, rows: list[dict[str, Any]]) -> None:
    """Rows into ``table`` by the database's bulk path: COPY (PostgreSQL), the driver's executemany
    over tuples (SQLite). Setup only: what ``create_run``/``log_params``/``log_metrics`` write,
    without 100,000 transactions."""
    columns = list(rows[0])
    with store.engine.begin() as conn:
        driver = conn.connection.driver_connection
        assert driver is not None
        if store.engine.dialect.name == "postgresql":
            with (
                driver.cursor() as cursor,
                cursor.copy(f"COPY {table.name} ({', '.join(columns)}) FROM STDIN") as copy,
            ):
                for row in rows:
                    copy.write_row([row[c] for c in columns])
        else:
            marks = ", ".join("?" for _ in columns)
            driver.executemany(
                f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({marks})",
                [tuple(row[c] for c in columns) for row in rows],
            )


def load(store: SqlStore, n_runs: int, n_experiments: int, history_runs: int, steps: int) -> dict[str, Any]:
    rng = random.Random(17)
    exp_ids = [store.create_experiment(f"scale-{i}").id for i in range(n_experiments)]
    started = time.perf_counter()
    base = 1_700_000_000_000
    batch = 20_000
    for first in range(0, n_runs, batch):
        run_rows, param_rows, metric_rows = [], [], []
        for i in range(first, min(first + batch, n_runs)):
            run_id, exp = uuid.uuid4().hex, exp_ids[i % n_experiments]
            run_rows.append(
                {
                    "id": run_id,
                    "experiment_id": exp,
                    "name": f"run-{i}",
                    "status": "finished",
                    "start_ms": base + i * 1000,
                    "end_ms": base + i * 1000 + 500,
                    "lifecycle": "active",
                }
            )
            for k in range(N_KEYS):
                param_rows.append(
                    {"run_id": run_id, "key": f"p{k}", "value": f"v{rng.randrange(10)}", "experiment_id": exp}
                )
                metric_rows.append(
                    {
                        "run_id": run_id,
                        "key": f"m{k}",
                        "value": rng.random(),
                        "step": 0,
                        "timestamp_ms": base,
                        "experiment_id": exp,
                    }
                )
        _bulk(store, runs, run_rows)
        _bulk(store, params, param_rows)
        _bulk(store, latest_metrics, metric_rows)
        _bulk(store, metrics, [{k: v for k, v in r.items() if k != "experiment_id"} for r in metric_rows])
    runs_s = time.perf_counter() - started
    # histories through the public bulk path: log_metrics, 100,000 points a call
    history_ids = [store.create_run(exp_ids[0], name=f"long-{h}").id for h in range(history_runs)]
    started = time.perf_counter()
    points = 0
    chunk: list[tuple[str, MetricPoint]] = []
    for run_id in history_ids:
        for k in range(N_KEYS):
            for s in range(steps):
                chunk.append((run_id, MetricPoint(f"m{k}", 1.0 / (s + 1), s, base + s)))
                if len(chunk) == 100_000:
                    store.log_metrics(chunk)
                    points += len(chunk)
                    chunk = []
    if chunk:
        store.log_metrics(chunk)
        points += len(chunk)
    history_s = time.perf_counter() - started
    started = time.perf_counter()
    analyze(store.engine)
    return {
        "experiments": exp_ids,
        "history_runs": history_ids,
        "load_runs_s": round(runs_s, 1),
        "history_points": points,
        "history_points_per_s": round(points / history_s) if history_s else None,
        "analyze_s": round(time.perf_counter() - started, 2),
    }


def explain(store: SqlStore, exp: str, flt: str | None) -> list[str]:
    """The plan of each query the search runs (literal values inlined)."""
    query = sa.select(runs).where(runs.c.experiment_id.in_([exp]), runs.c.lifecycle == "active")
    query = query.where(
        runs.c.experiment_id.in_(sa.select(experiments.c.id).where(experiments.c.lifecycle == "active"))
    )

    def scope(alias: Any) -> Any:
        return alias.c.experiment_id.in_([exp])

    plans = []
    parts = search_parts(RUN_SEARCH, query, parse_filter(flt), parse_order_by(ORDER), 100, 0, None, scope)
    with store.engine.connect() as conn:
        for part in parts:
            sql = str(part.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
            prefix = "EXPLAIN QUERY PLAN " if conn.dialect.name == "sqlite" else "EXPLAIN (ANALYZE, BUFFERS) "
            rows = conn.exec_driver_sql(prefix + sql).all()
            plans.append("\n".join(str(r[-1]) for r in rows))
    return plans


def measure(store: SqlStore, loaded: dict[str, Any], repeats: int) -> dict[str, Any]:
    exp = loaded["experiments"][1]
    out: dict[str, Any] = {}
    out["search_filtered_ordered"] = timed(
        lambda: store.search_runs([exp], filter=FILTER, order_by=ORDER, max_results=100), repeats
    )
    out["search_ordered"] = timed(lambda: store.search_runs([exp], order_by=ORDER, max_results=100), repeats)
    out["search_default_order"] = timed(lambda: store.search_runs([exp], max_results=100), repeats)
    # a page deep in the experiment: the anchor is the last run of page 50 (by offset, once)
    anchor = store.search_runs([exp], order_by=ORDER, max_results=1, offset=50 * 100 - 1)
    if anchor:
        after = anchor[0].id
        out["search_ordered_page_50_keyset"] = timed(
            lambda: store.search_runs([exp], order_by=ORDER, max_results=100, after_run_id=after), repeats
        )
    run_id = store.search_runs([exp], max_results=1)[0].id
    out["get_run"] = timed(lambda: store.get_run(run_id), repeats)
    if loaded["history_runs"]:
        long_run = loaded["history_runs"][0]
        out["history_arrays"] = timed(lambda: store.get_metric_history_arrays(long_run, "m3"), repeats)
        out["history_list"] = timed(lambda: store.list_metric_history(long_run, "m3"), repeats)
    out["plans"] = {"filtered_ordered": explain(store, exp, FILTER), "ordered": explain(store, exp, None)}
    return out


MLFLOW_SIDE = textwrap.dedent(
    """
    import json, random, statistics, sys, time, uuid
    from _mlflow_server import copy  # bench/ is the working directory: `-c` puts it on sys.path
    from mlflow.entities import Metric, Param
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore
    uri, artifacts, n_runs, n_exp, history_runs, steps, repeats = sys.argv[1:8]
    n_runs, n_exp, history_runs, steps, repeats = map(int, (n_runs, n_exp, history_runs, steps, repeats))
    store = SqlAlchemyStore(uri, artifacts)
    rng = random.Random(17)
    exps = [store.create_experiment(f"scale-{i}") for i in range(n_exp)]
    # The rows create_run + log_batch write (checked on one run below), inserted in bulk: COPY on
    # PostgreSQL, executemany on SQLite. log_batch is one transaction per run: hours at 100,000 runs.
    pg = store.engine.dialect.name == "postgresql"
    def bulk(table, rows):
        columns = list(rows[0])
        raw = store.engine.raw_connection()
        try:
            cur = raw.cursor()
            if pg:
                copy(cur, table, rows)
            else:
                marks = ", ".join("?" for _ in columns)
                cur.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})",
                                [tuple(row[c] for c in columns) for row in rows])
            raw.commit()
        finally:
            raw.close()
    false = "false" if pg else 0
    base = 1_700_000_000_000
    t0 = time.perf_counter()
    for first in range(0, n_runs, 20000):
        run_rows, param_rows, metric_rows, tag_rows = [], [], [], []
        for i in range(first, min(first + 20000, n_runs)):
            rid, exp = uuid.uuid4().hex, exps[i % n_exp]
            run_rows.append({"run_uuid": rid, "name": f"run-{i}", "source_type": "UNKNOWN", "source_name": "",
                             "entry_point_name": "", "user_id": "u", "status": "FINISHED",
                             "start_time": base + i * 1000, "end_time": base + i * 1000 + 500,
                             "source_version": "", "lifecycle_stage": "active",
                             "artifact_uri": f"{artifacts}/{rid}/artifacts", "experiment_id": int(exp)})
            tag_rows.append({"key": "mlflow.runName", "value": f"run-{i}", "run_uuid": rid})
            for k in range(10):
                param_rows.append({"key": f"p{k}", "value": f"v{rng.randrange(10)}", "run_uuid": rid})
                metric_rows.append({"key": f"m{k}", "value": rng.random(), "timestamp": base, "step": 0,
                                    "is_nan": false, "run_uuid": rid})
        bulk("runs", run_rows)
        bulk("tags", tag_rows)
        bulk("params", param_rows)
        bulk("latest_metrics", metric_rows)
        bulk("metrics", metric_rows)
    load_runs_s = time.perf_counter() - t0
    long_ids = []
    t0 = time.perf_counter()
    points = 0
    for h in range(history_runs):
        run = store.create_run(exps[0], "u", base, [], f"long-{h}")
        long_ids.append(run.info.run_id)
        rows = [{"key": f"m{k}", "value": 1.0 / (s + 1), "timestamp": base + s, "step": s, "is_nan": false,
                 "run_uuid": run.info.run_id} for k in range(10) for s in range(steps)]
        bulk("metrics", rows)
        bulk("latest_metrics", [r for r in rows if r["step"] == steps - 1])
        points += len(rows)
    history_s = time.perf_counter() - t0
    # log_batch's own rate, on a few runs (its limit: 1,000 metrics a call)
    t0 = time.perf_counter()
    run = store.create_run(exps[0], "u", base, [], "log-batch-check")
    for start in range(0, 20000, 1000):
        store.log_batch(run.info.run_id, [Metric("m", 1.0 / (s + 1), base + s, s) for s in range(start, start + 1000)], [], [])
    log_batch_points_per_s = round(20000 / (time.perf_counter() - t0))
    store.log_batch(run.info.run_id, [Metric("x", 0.5, base, 0)], [Param("p0", "v1")], [])
    assert store.get_run(run.info.run_id).data.params == {"p0": "v1"}
    with store.engine.connect() as conn:
        conn.exec_driver_sql("ANALYZE")
        conn.commit()
    def timed(fn):
        fn()
        xs = []
        for _ in range(repeats):
            t = time.perf_counter(); fn(); xs.append((time.perf_counter() - t) * 1000)
        return {"median_ms": round(statistics.median(xs), 3), "max_ms": round(max(xs), 3)}
    exp = exps[1]
    out = {"load_runs_s": round(load_runs_s, 1), "history_points": points,
           "bulk_history_points_per_s": round(points / history_s) if history_s else None,
           "log_batch_points_per_s": log_batch_points_per_s}
    flt = "metrics.m0 > 0.5 and params.p0 = 'v3'"
    out["search_filtered_ordered"] = timed(lambda: store.search_runs([exp], flt, 1, 100, ["metrics.m1 DESC"]))
    out["search_ordered"] = timed(lambda: store.search_runs([exp], "", 1, 100, ["metrics.m1 DESC"]))
    out["search_default_order"] = timed(lambda: store.search_runs([exp], "", 1, 100))
    first = store.search_runs([exp], "", 1, 100, ["metrics.m1 DESC"])
    token = first.token
    out["search_ordered_page_2"] = timed(lambda: store.search_runs([exp], "", 1, 100, ["metrics.m1 DESC"], token))
    run_id = first[0].info.run_id
    out["get_run"] = timed(lambda: store.get_run(run_id))
    if long_ids:
        out["history_list"] = timed(lambda: store.get_metric_history(long_ids[0], "m3"))
    import mlflow
    out["mlflow"] = mlflow.__version__
    print(json.dumps(out))
    """
)


def mlflow_side(engine: str, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    sys.path.insert(0, str(HERE))
    import refenv

    python = refenv.ensure("mlflow")
    if engine == "sqlite":
        uri = f"sqlite:///{workdir / 'mlflow.db'}"
        cleanup = None
    else:
        schema = f"mlf_scale_{uuid.uuid4().hex[:8]}"
        admin = sa.create_engine(PG, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
        uri = f"postgresql+psycopg2://root@127.0.0.1:5432/test?options=-csearch_path%3D{schema}"
        cleanup = (admin, schema)
    try:
        done = subprocess.run(
            [
                str(python),
                "-c",
                MLFLOW_SIDE,
                uri,
                str(workdir / "mlartifacts"),
                str(args.mlflow_runs),
                str(args.experiments),
                str(args.mlflow_history_runs),
                str(args.steps),
                str(args.repeats),
            ],
            capture_output=True,
            text=True,
            check=False,
            cwd=HERE,
        )
        if done.returncode:
            return {"error": done.stderr[-2000:]}
        return json.loads(done.stdout.strip().splitlines()[-1])
    finally:
        if cleanup:
            admin, schema = cleanup
            with admin.connect() as conn:
                conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
            admin.dispose()


def ours(
    engine: str, n_runs: int, history_runs: int, args: argparse.Namespace, workdir: Path
) -> dict[str, Any]:
    """Load (or, with ``--keep TAG``, reuse a kept load) and measure Loopwright on ``engine``."""
    keep = args.keep
    tag = keep or uuid.uuid4().hex[:8]
    if engine == "sqlite":
        folder = Path(tempfile.gettempdir()) if keep else workdir
        uri, cleanup = f"sqlite:///{folder / f'lw-scale-{tag}-{n_runs}.db'}", None
    else:
        schema = f"lw_scale_{tag}_{n_runs}"
        admin = sa.create_engine(PG, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text(f"CREATE SCHEMA IF NOT EXISTS {schema}"))
        uri, cleanup = f"{PG}?options=-csearch_path%3D{schema}", None if keep else (admin, schema)
    sidecar = Path(tempfile.gettempdir()) / f"lw-scale-{tag}-{engine}-{n_runs}.json"
    store = SqlStore(uri)
    try:
        if keep and sidecar.exists():
            loaded = json.loads(sidecar.read_text())
        else:
            loaded = load(store, n_runs, args.experiments, history_runs, args.steps)
            if keep:
                sidecar.write_text(json.dumps(loaded))
        result = measure(store, loaded, args.repeats)
        result.update({k: v for k, v in loaded.items() if k not in ("experiments", "history_runs")})
        return result
    finally:
        store.close()
        if cleanup:
            admin, schema = cleanup
            with admin.connect() as conn:
                conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
            admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--experiments", type=int, default=10)
    parser.add_argument("--history-runs", type=int, default=100)
    parser.add_argument("--steps", type=int, default=10_000)
    parser.add_argument("--mlflow-runs", type=int, default=100_000)
    parser.add_argument("--mlflow-history-runs", type=int, default=100)
    parser.add_argument("--engines", default="sqlite,postgresql")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--skip-mlflow", action="store_true")
    parser.add_argument(
        "--keep", default=None, help="keep the loaded stores under TAG; reuse them when run again"
    )
    parser.add_argument("--out", type=Path, default=HERE / "results" / "scale.json")
    args = parser.parse_args()
    report: dict[str, Any] = {"args": {k: str(v) for k, v in vars(args).items()}}
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        for engine in args.engines.split(","):
            side: dict[str, Any] = {}
            side["full"] = ours(engine, args.runs, args.history_runs, args, workdir)
            print(
                engine,
                "full",
                json.dumps({k: v for k, v in side["full"].items() if k != "plans"}),
                flush=True,
            )
            if not args.skip_mlflow:
                same = (args.mlflow_runs, args.mlflow_history_runs) == (args.runs, args.history_runs)
                side["same_size"] = (
                    side["full"]
                    if same
                    else ours(engine, args.mlflow_runs, args.mlflow_history_runs, args, workdir)
                )
                side["mlflow"] = mlflow_side(engine, args, workdir)
                print(engine, "mlflow", json.dumps(side["mlflow"]), flush=True)
                side["ratios"] = {
                    key: round(side["mlflow"][key]["median_ms"] / side["same_size"][key]["median_ms"], 1)
                    for key in (
                        "search_filtered_ordered",
                        "search_ordered",
                        "search_default_order",
                        "search_ordered_page_2",
                        "get_run",
                        "history_list",
                    )
                    if key in side["mlflow"] and key in side["same_size"]
                }
                if "history_list" in side["mlflow"] and "history_arrays" in side["same_size"]:
                    side["ratios"]["history_arrays_vs_mlflow"] = round(
                        side["mlflow"]["history_list"]["median_ms"]
                        / side["same_size"]["history_arrays"]["median_ms"],
                        1,
                    )
                print(engine, "ratios", json.dumps(side["ratios"]), flush=True)
            report[engine] = side
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
