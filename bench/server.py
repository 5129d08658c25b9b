"""Platform server benchmark: ``loopwright server`` vs ``mlflow server``, both on PostgreSQL, same run.

Both servers run as real subprocesses on free loopback ports, one worker process each, each on its own
PostgreSQL storage (ours: a private schema of the ``test`` database via ``options=-csearch_path``;
MLflow's: a database of its own, created here) and a local artifact folder; both are dropped at the end.
Ours runs without ``--auth`` (the default, loopback only), and a second Loopwright server on the same
schema runs with ``--auth`` and an editor token, to show what authentication costs.

Workloads, timed in a fresh client process per repeat through each tool's own client:

- per-call metric logging: ``lw.log_metric`` (buffered; RestStore sends one ``POST /api/v1/metrics`` per
  flush on a keep-alive connection; timed until durable, the final flush included) against
  ``mlflow.log_metric`` (one HTTP request per call);
- run creation: ``with start_run(): pass`` (create and finish) on both sides;
- ``search_runs`` with a filter and an order, one page of ``--page`` runs, over experiments of 1,000 and
  ``--runs`` (20,000) runs: ``lw.search_runs(experiment=NAME, ..., output="list")`` (which also looks the
  experiment up by name: two requests) against ``MlflowClient().search_runs([ID], ...)`` (one request).

The searched runs (10 params, 10 metrics each, the same seeded values on both sides) are loaded before the
clock the same way on both sides, by the fastest path: PostgreSQL ``COPY`` straight into each tool's own
tables (ours: ``loopwright.store.sql.tables``; MLflow's: ``bench/_mlflow_server.py populate``), then
``ANALYZE``; each experiment is created through its own server first.

The sides run interleaved (Loopwright, MLflow, Loopwright with auth) per repeat; ratios are per pair
(``bench/_compare.py``), median and min-max. Prints JSON.

    .venv/bin/python bench/server.py [--repeats 3] [--runs 20000] [--quick]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import _compare  # noqa: E402
import refenv  # noqa: E402

PG_URI = os.environ.get("LOOPWRIGHT_BENCH_PG", "postgresql+psycopg://root@127.0.0.1:5432/test")
SEARCH_FILTER = "metrics.m0 > 0.5 and params.p0 = 'v1'"
ORDER = "metrics.m0 DESC"
SMALL = 1000  # the smaller searched experiment
LOOPWRIGHT = [sys.executable, "-m", "loopwright.cli"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def server(command: Sequence[str | Path], probe: str, log: Path, env: dict[str, str]) -> Iterator[str]:
    """Start ``command`` (with ``{port}`` filled in), wait until ``probe`` answers 200, yield its URL."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [str(c).format(port=port) for c in command], stdout=out, stderr=subprocess.STDOUT, env=env
        )
    try:
        deadline = time.monotonic() + 300  # a loaded 2-core machine
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{command[0]} exited: {log.read_text()[-3000:]}")
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(url + probe, timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"{command[0]} not ready: {log.read_text()[-3000:]}")
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def copy(cursor: Any, table: str, rows: list[dict[str, Any]]) -> None:
    """COPY ``rows`` (dicts with the same keys) into ``table``: PostgreSQL's bulk load (psycopg 3)."""
    columns = list(rows[0])
    with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as load:
        for row in rows:
            load.write_row([row[c] for c in columns])


def populate_loopwright(
    store_uri: str, experiment: str, runs: int, seed: int, source: str = "bench/server.py"
) -> float:
    """COPY ``runs`` finished runs (10 params, 10 metrics) into our tables; seconds taken (setup, not timed).

    The rows ``create_run`` + ``log_params`` + ``log_metrics`` write, ``experiment_id`` copied onto
    params and latest metrics as the store does (its run search is scoped by it); no store call
    takes 100,000 runs at once, and 100,000 transactions would take most of an hour here.
    """
    from loopwright.store.entities import now_ms
    from loopwright.store.sql import SqlStore
    from loopwright.store.sql import tables as t

    store = SqlStore(store_uri)
    eid = store.create_experiment(experiment).id
    rng = random.Random(seed)  # the same values, in the same order, as MLflow's side
    base = now_ms()
    start = time.perf_counter()
    with store.engine.begin() as conn:
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        for chunk in range(0, runs, 5000):
            ids = [uuid.uuid4().hex for _ in range(min(5000, runs - chunk))]
            run_rows = [
                {
                    "id": rid,
                    "experiment_id": eid,
                    "name": f"r{chunk + i}",
                    "status": "finished",
                    "start_ms": base + chunk + i,
                    "end_ms": base + chunk + i + 1,
                    "lifecycle": "active",
                }
                for i, rid in enumerate(ids)
            ]
            copy(cursor, t.runs.name, run_rows)
            params = [
                {"run_id": rid, "key": f"p{k}", "value": f"v{rng.randrange(3)}", "experiment_id": eid}
                for rid in ids
                for k in range(10)
            ]
            copy(cursor, t.params.name, params)
            tags = [  # the system tags lw.start_run writes on every run
                {"run_id": rid, "key": key, "value": value, "experiment_id": eid}
                for rid in ids
                for key, value in (
                    ("loopwright.source.name", source),
                    ("loopwright.source.git_commit", "0" * 40),
                )
            ]
            copy(cursor, t.run_tags.name, tags)
            latest = [
                {"run_id": rid, "key": f"m{k}", "value": rng.random(), "step": 0, "timestamp_ms": base}
                for rid in ids
                for k in range(10)
            ]
            copy(cursor, t.metrics.name, latest)
            copy(cursor, t.latest_metrics.name, [{**row, "experiment_id": eid} for row in latest])
    with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("ANALYZE runs, params, run_tags, metrics, latest_metrics")
    store.close()
    return time.perf_counter() - start


def loopwright_client(
    url: str, token: str | None, filt: str, page: int, repeat: int, calls: int, runs: int, names: list[str]
) -> dict[str, Any]:
    """One repeat of Loopwright's side, in this (fresh) process."""
    os.environ["LOOPWRIGHT_STORE_URI"] = url
    os.environ["LOOPWRIGHT_HOME"] = tempfile.mkdtemp(prefix="lw-bench-client-")
    if token:
        os.environ["LOOPWRIGHT_TOKEN"] = token
    import loopwright as lw

    lw.set_experiment(f"bench-{uuid.uuid4().hex[:8]}")
    out: dict[str, Any] = {}
    with lw.start_run(name="single"):
        start = time.perf_counter()
        for i in range(calls):
            lw.log_metric("loss", 1.0 / (i + 1), step=i)
        out["log_call_s"] = time.perf_counter() - start
        lw.flush()
        out["log_s"] = time.perf_counter() - start
    start = time.perf_counter()
    for r in range(runs):
        with lw.start_run(name=f"run{r}"):
            pass
    out["create_runs_s"] = time.perf_counter() - start
    for name in names:
        timings = []
        for _ in range(repeat):
            start = time.perf_counter()
            found = lw.search_runs(
                experiment=name, filter=filt, order_by=[ORDER], max_results=page, output="list"
            )
            timings.append(time.perf_counter() - start)
        out[f"search_{name}_first_s"] = timings[0]
        out[f"search_{name}_s"] = sorted(timings)[len(timings) // 2]
        out[f"search_{name}_hits"] = len(found)
        out[f"search_{name}_top"] = found[0].metrics["m0"]
    return out


def with_rates(figures: dict[str, Any], calls: int, runs: int) -> dict[str, Any]:
    return {**figures, "log_per_s": calls / figures["log_s"], "runs_per_s": runs / figures["create_runs_s"]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--runs", type=int, default=20_000, help="runs in the large searched experiment")
    parser.add_argument("--log-calls", type=int, default=20_000, help="lw.log_metric calls per repeat")
    parser.add_argument("--mlflow-log-calls", type=int, default=1000, help="mlflow.log_metric calls")
    parser.add_argument("--create-runs", type=int, default=200, help="runs created per repeat")
    parser.add_argument("--search-repeat", type=int, default=10, help="searches per experiment")
    parser.add_argument("--page", type=int, default=100, help="max_results of each search")
    parser.add_argument("--no-auth-side", action="store_true", help="skip the --auth server")
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        url, token, *names = args.child
        figures = loopwright_client(
            url, token or None, SEARCH_FILTER, args.page, args.search_repeat, args.log_calls,
            args.create_runs, names,
        )  # fmt: skip
        print(json.dumps(figures))
        return
    if args.quick:
        args.repeats, args.runs, args.log_calls, args.mlflow_log_calls = 2, 5000, 5000, 300
        args.create_runs, args.search_repeat = 50, 5
    big = f"pop{args.runs}"
    names = [f"pop{SMALL}", big]
    result: dict[str, Any] = {"benchmark": "server", **vars(args), "filter": SEARCH_FILTER, "order": ORDER}
    result.update(_compare.environment("mlflow"))
    tag = uuid.uuid4().hex[:10]
    schema, database = f"bench_lw_{tag}", f"bench_mlflow_{tag}"
    admin = sa.create_engine(PG_URI, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
        conn.execute(sa.text(f"CREATE DATABASE {database}"))
    ours_uri = f"{PG_URI}?options=-csearch_path%3D{schema}"
    # psycopg2 named explicitly: the SQLAlchemy in MLflow's venv may default to psycopg 3, not installed there
    mlflow_db = sa.make_url(PG_URI).set(drivername="postgresql+psycopg2", database=database)
    mlflow_db = mlflow_db.render_as_string(hide_password=False)
    mlflow_bin = refenv.bin_dir("mlflow")
    env = {**os.environ}
    env.pop("LOOPWRIGHT_STORE_URI", None)
    try:
        with tempfile.TemporaryDirectory(prefix="bench-server-") as tmp_name:
            tmp = Path(tmp_name)
            ours_cmd = [*LOOPWRIGHT, "server", "--port", "{port}", "--workers", "1"]
            ours_cmd += ["--store-uri", ours_uri, "--artifact-uri", str(tmp / "lw-artifacts")]
            mlflow_cmd = [mlflow_bin / "mlflow", "server", "--host", "127.0.0.1", "--port", "{port}"]
            mlflow_cmd += ["--workers", "1", "--backend-store-uri", mlflow_db]
            mlflow_cmd += ["--artifacts-destination", str(tmp / "mlflow-artifacts")]
            mlflow_env = {**env, "PATH": f"{mlflow_bin}:{env['PATH']}"}
            with contextlib.ExitStack() as stack:
                ours = stack.enter_context(server(ours_cmd, "/readyz", tmp / "lw.log", env))
                theirs = stack.enter_context(server(mlflow_cmd, "/health", tmp / "mlflow.log", mlflow_env))
                token = ""
                if not args.no_auth_side:
                    created = subprocess.run(
                        [*LOOPWRIGHT, "tokens", "create", "--user", "bench", "--role", "editor"],
                        env={**env, "LOOPWRIGHT_STORE_URI": ours_uri},
                        capture_output=True, text=True, check=True,
                    )  # fmt: skip
                    token = created.stdout.strip().splitlines()[-1]
                    authed = stack.enter_context(
                        server([*ours_cmd, "--auth"], "/readyz", tmp / "auth.log", env)
                    )
                populated: dict[str, Any] = {"loopwright_s": {}, "mlflow_s": {}}
                for name, runs in ((names[0], SMALL), (big, args.runs)):
                    seed = runs
                    populated["loopwright_s"][name] = round(
                        populate_loopwright(ours_uri, name, runs, seed), 2
                    )
                    populate = [refenv.ensure("mlflow"), HERE / "_mlflow_server.py", "populate", mlflow_db]
                    done = _compare.child_json([*populate, theirs, name, str(runs), str(seed)])
                    populated["mlflow_s"][name] = round(done["populate_s"], 2)
                result["populate_seconds"] = populated

                def ours_side(url: str, key: str) -> dict[str, Any]:
                    command = [sys.executable, Path(__file__), "--child", url, key, *names]
                    command += ["--page", str(args.page), "--search-repeat", str(args.search_repeat)]
                    command += ["--log-calls", str(args.log_calls), "--create-runs", str(args.create_runs)]
                    return with_rates(_compare.child_json(command, env=env), args.log_calls, args.create_runs)

                def mlflow_side() -> dict[str, Any]:
                    command = [refenv.ensure("mlflow"), HERE / "_mlflow_server.py", "client", theirs]
                    command += [SEARCH_FILTER, str(args.page), str(args.search_repeat)]
                    command += [str(args.mlflow_log_calls), str(args.create_runs), *names]
                    figures = _compare.child_json(command, env=mlflow_env)
                    return with_rates(figures, args.mlflow_log_calls, args.create_runs)

                pairs, auth_pairs = [], []
                for _ in range(args.repeats):
                    pairs += _compare.interleave(lambda: ours_side(ours, ""), mlflow_side, 1)
                    if token:
                        auth = {**ours_side(authed, token), "load_average": round(os.getloadavg()[0], 2)}
                        print(json.dumps({"auth": auth}), file=sys.stderr, flush=True)
                        auth_pairs.append((auth, pairs[-1][1]))
            result["seconds_median"] = _compare.side_by_side(pairs, ("loopwright", "mlflow"))
            result["samples"] = {"loopwright": [a for a, _ in pairs], "mlflow": [b for _, b in pairs]}
            ratios = {
                "logging_throughput_x": _compare.ratios(pairs, "log_per_s", b_over_a=False, digits=1),
                "run_creation_x": _compare.ratios(pairs, "runs_per_s", b_over_a=False, digits=2),
            }
            for name in names:
                ratios[f"search_{name}_x"] = _compare.ratios(pairs, f"search_{name}_s", digits=2)
            result["ratios_loopwright_over_mlflow"] = ratios
            if auth_pairs:
                result["auth_side_median"] = _compare.medians([a for a, _ in auth_pairs])
                result["auth_side_ratios_over_mlflow"] = {
                    "logging_throughput_x": _compare.ratios(
                        auth_pairs, "log_per_s", b_over_a=False, digits=1
                    ),
                    "run_creation_x": _compare.ratios(auth_pairs, "runs_per_s", b_over_a=False, digits=2),
                    **{
                        f"search_{name}_x": _compare.ratios(auth_pairs, f"search_{name}_s", digits=2)
                        for name in names
                    },
                }
            result["targets_met"] = {
                "logging_20x": ratios["logging_throughput_x"]["median"] >= 20,
                "run_creation_5x": ratios["run_creation_x"]["median"] >= 5,
                "search_20k_5x": ratios[f"search_{big}_x"]["median"] >= 5,
            }
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)"))
        admin.dispose()
    print(json.dumps(_compare.finish(result), indent=2))


if __name__ == "__main__":
    main()
