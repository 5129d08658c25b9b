"""Web UI benchmark: Loopwright's UI vs MLflow's UI, in headless Chromium, same runs, same machine, same run.

Both servers are real subprocesses on PostgreSQL (ours in a schema of db ``test``, MLflow's in a database
of its own), each with one experiment of ``--runs`` finished runs of 10 params and 10 metrics (the same
seeded values on both sides), plus one run with a ``--steps``-step metric ``loss`` logged through each
tool's own client. The runs are loaded by PostgreSQL's COPY on both sides, the rows each tool's own
writes would leave (:func:`server.populate_loopwright`; ``_mlflow_server.py populate`` for MLflow: its
``log_batch`` is one request per run, hours at 100,000 runs), then ANALYZEd. MLflow is 3.17.2 from
``bench/refenv.py`` (the full ``mlflow`` package: ``mlflow server`` serves its React UI).

Each page is timed in a fresh browser context (cold cache), from ``page.goto`` to the first sign of the
page's data, the moment a user can read it:

- ``runs``: the experiment's runs page, until the first run-name cell (``r123``) is visible (MLflow 3:
  its ``/experiments/{id}/runs`` tab; the quick run of 2026-12-01 used ``/experiments/{id}``, which showed
  no run name within 60 s, so MLflow's runs and sort figures are missing from it);
- ``sort``: the runs page sorted by ``metrics.m0`` descending, until the first run name is visible
  (ours: ``?order_by=``; MLflow: its ``orderByKey``/``orderByAsc`` URL state);
- ``run``: the page of the run with the long metric, until its chart is drawn (ours: the SVG with
  ``data-points``; MLflow: the model-metrics tab's plot);
- ``compare``: 20 runs compared, until the comparison shows a run name.

Pages are visited interleaved (ours, MLflow) ``--repeats`` times; the figures are medians and ratios
are MLflow's time over ours. A page that does not show its data within ``--timeout`` seconds is recorded
as ``null`` with the reason, never as a number. Prints JSON.

    .venv/bin/python bench/ui.py [--runs 100000] [--steps 10000] [--repeats 5] [--quick] [--keep TAG] [--pages runs,sort]

``--keep TAG`` leaves both data sets in PostgreSQL under TAG, and a later run with the same TAG reuses
them (loading 100,000 runs per side takes minutes: profile and re-time without reloading).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import sqlalchemy as sa

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import _compare  # noqa: E402
import refenv  # noqa: E402

from server import LOOPWRIGHT, PG_URI, populate_loopwright, server  # noqa: E402

RUN_NAME = re.compile(r"^r\d+$")

MLFLOW_SETUP = r"""
import json, sys, time
from mlflow import MlflowClient
from mlflow.entities import Metric
url, experiment_id, steps = sys.argv[1], sys.argv[2], int(sys.argv[3])
client = MlflowClient(url)
found = client.search_runs([experiment_id], filter_string="attributes.run_name = 'long-metric'")
if found:  # a kept data set (--keep): set up by an earlier run
    run = found[0]
else:
    run = client.create_run(experiment_id, run_name="long-metric")
    now = int(time.time() * 1000)
    for start in range(0, steps, 1000):
        batch = [Metric("loss", 1.0 / (s + 1), now, s) for s in range(start, min(start + 1000, steps))]
        client.log_batch(run.info.run_id, metrics=batch)
    client.set_terminated(run.info.run_id)
ids = [r.info.run_id for r in client.search_runs([experiment_id], max_results=20, order_by=["attributes.start_time DESC"])]
print(json.dumps({"long_run": run.info.run_id, "compare": ids}))
"""


def loopwright_setup(url: str, experiment: str, steps: int) -> dict[str, Any]:
    """The long-metric run (logged through lw, unless kept from an earlier run) and 20 runs to compare."""
    os.environ["LOOPWRIGHT_STORE_URI"] = url
    os.environ["LOOPWRIGHT_HOME"] = tempfile.mkdtemp(prefix="lw-bench-ui-")
    import loopwright as lw

    lw.set_experiment(experiment)
    long = lw.search_runs(experiment=experiment, filter="attributes.run_name = 'long-metric'", output="list")
    if long:
        long_id = long[0].id
    else:
        with lw.start_run(name="long-metric") as run:
            for step in range(steps):
                lw.log_metric("loss", 1.0 / (step + 1), step=step)
        long_id = run.id
    found = lw.search_runs(experiment=experiment, max_results=20, output="list")  # the long run among them
    lw.reset_clients()
    return {"long_run": long_id, "compare": [r.id for r in found]}


def tag_mlflow_runs(db_uri: str, experiment_id: int) -> None:
    """Give the COPYed runs the tags MLflow's client writes on every run (its UI's runs page fails,
    "Cannot read properties of undefined", on runs with no tags at all)."""
    engine = sa.create_engine(db_uri.replace("+psycopg2", "+psycopg"))
    with engine.begin() as conn:
        for key, value in (
            ("mlflow.runName", "name"),
            ("mlflow.user", "'bench'"),
            ("mlflow.source.name", "'bench/ui.py'"),
            ("mlflow.source.type", "'LOCAL'"),
        ):
            conn.execute(
                sa.text(
                    f"INSERT INTO tags (key, value, run_uuid) SELECT :key, {value}, run_uuid FROM runs"
                    " WHERE experiment_id = :e AND user_id = 'bench'"
                ),
                {"key": key, "e": experiment_id},
            )
        conn.exec_driver_sql("ANALYZE tags")
    engine.dispose()


def mlflow_experiment_id(db_uri: str, name: str) -> int:
    """MLflow's id of experiment ``name``, read from its database."""
    engine = sa.create_engine(db_uri.replace("+psycopg2", "+psycopg"))
    with engine.connect() as conn:
        found = conn.execute(sa.text("SELECT experiment_id FROM experiments WHERE name = :n"), {"n": name})
        experiment_id = int(found.scalar_one())
    engine.dispose()
    return experiment_id


def timed(browser: Any, url: str, ready: Any, timeout_s: float) -> tuple[float | None, str]:
    """Seconds from navigation to ``ready(page)`` returning, in a fresh context; None and why on failure."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(timeout_s * 1000)
    try:
        start = time.perf_counter()
        page.goto(url, wait_until="commit")
        ready(page)
        return time.perf_counter() - start, ""
    except Exception as error:  # a timeout or a page that never shows its data: recorded, not a number
        return None, f"{type(error).__name__}: {str(error).splitlines()[0][:200]}"
    finally:
        context.close()


def _median(values: list[float | None]) -> float | None:
    """The median, or None when any sample failed (a partial median would flatter the side)."""
    known = [v for v in values if v is not None]
    return round(statistics.median(known), 3) if known and len(known) == len(values) else None


def first_run_name(page: Any) -> None:
    page.get_by_text(RUN_NAME).first.wait_for(state="visible")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--steps", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("--quick", action="store_true", help="2,000 runs, 2 repeats: a smoke run")
    parser.add_argument(
        "--keep", metavar="TAG", help="keep the loaded data under this tag (reused, not reloaded, next time)"
    )
    parser.add_argument("--pages", default="runs,sort,run,compare", help="which pages to time")
    args = parser.parse_args()
    if args.quick:
        args.runs, args.repeats = 2000, 2
    from playwright.sync_api import sync_playwright

    result: dict[str, Any] = {"benchmark": "ui", **vars(args)}
    result.update(_compare.environment("mlflow"))
    tag = args.keep or uuid.uuid4().hex[:10]
    schema, database = f"bench_ui_lw_{tag}", f"bench_ui_mlflow_{tag}"
    admin = sa.create_engine(PG_URI, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA IF NOT EXISTS {schema}"))
        if (
            conn.execute(sa.text("SELECT 1 FROM pg_database WHERE datname = :d"), {"d": database}).first()
            is None
        ):
            conn.execute(sa.text(f"CREATE DATABASE {database}"))
    ours_uri = f"{PG_URI}?options=-csearch_path%3D{schema}"
    mlflow_db = sa.make_url(PG_URI).set(drivername="postgresql+psycopg2", database=database)
    mlflow_db_uri = mlflow_db.render_as_string(hide_password=False)
    mlflow_bin = refenv.bin_dir("mlflow")
    env = {k: v for k, v in os.environ.items() if k != "LOOPWRIGHT_STORE_URI"}
    mlflow_env = {**env, "PATH": f"{mlflow_bin}:{env['PATH']}"}
    experiment = f"ui{args.runs}"
    try:
        with tempfile.TemporaryDirectory(prefix="bench-ui-") as tmp_name, contextlib.ExitStack() as stack:
            tmp = Path(tmp_name)
            ours_cmd: list[str | Path] = [*LOOPWRIGHT, "server", "--port", "{port}", "--store-uri", ours_uri]
            ours_cmd += ["--artifact-uri", str(tmp / "lw-artifacts")]
            mlflow_cmd: list[str | Path] = [
                mlflow_bin / "mlflow",
                "server",
                "--host",
                "127.0.0.1",
                "--port",
                "{port}",
            ]
            mlflow_cmd += ["--workers", "1", "--backend-store-uri", mlflow_db_uri]
            mlflow_cmd += ["--artifacts-destination", str(tmp / "mlflow-artifacts")]
            ours = stack.enter_context(server(ours_cmd, "/readyz", tmp / "lw.log", env))
            theirs = stack.enter_context(server(mlflow_cmd, "/health", tmp / "mlflow.log", mlflow_env))
            from loopwright.store.sql import SqlStore

            store = SqlStore(ours_uri)
            found = store.get_experiment_by_name(experiment)
            store.close()
            populated: dict[str, Any] = {"kept_from_an_earlier_run": found is not None}
            if found is None:
                populated["loopwright_s"] = round(
                    populate_loopwright(ours_uri, experiment, args.runs, 7, source="bench/ui.py"), 1
                )
                command: list[str | Path] = [
                    refenv.ensure("mlflow"),
                    HERE / "_mlflow_server.py",
                    "populate",
                    mlflow_db_uri,
                    theirs,
                ]
                done = _compare.child_json([*command, experiment, str(args.runs), "7"])
                tag_mlflow_runs(mlflow_db_uri, int(done["experiment_id"]))
                populated["mlflow_s"] = round(done["populate_s"], 1)
                store = SqlStore(ours_uri)
                found = store.get_experiment_by_name(experiment)
                store.close()
            assert found is not None
            our_eid = found.id
            mlflow_eid = str(mlflow_experiment_id(mlflow_db_uri, experiment))
            result["populate_seconds"] = populated
            ours_ids = loopwright_setup(ours, experiment, args.steps)
            setup: list[str | Path] = [
                refenv.ensure("mlflow"),
                "-c",
                MLFLOW_SETUP,
                theirs,
                mlflow_eid,
                str(args.steps),
            ]
            theirs_ids = _compare.child_json(setup, env=mlflow_env)
            pages = {
                "runs": (
                    (f"{ours}/experiments/{our_eid}", first_run_name),
                    (f"{theirs}/#/experiments/{mlflow_eid}/runs", first_run_name),
                ),
                "sort": (
                    (f"{ours}/experiments/{our_eid}?order_by=metrics.m0%20DESC", first_run_name),
                    (
                        f"{theirs}/#/experiments/{mlflow_eid}/runs?orderByKey=metrics.%60m0%60&orderByAsc=false",
                        first_run_name,
                    ),
                ),
                "run": (
                    (
                        f"{ours}/runs/{ours_ids['long_run']}",
                        lambda p: p.locator("svg[data-points]").first.wait_for(state="visible"),
                    ),
                    (
                        f"{theirs}/#/experiments/{mlflow_eid}/runs/{theirs_ids['long_run']}/model-metrics",
                        lambda p: p.locator(".js-plotly-plot .scatterlayer path, canvas").first.wait_for(
                            state="visible"
                        ),
                    ),
                ),
                "compare": (
                    (f"{ours}/compare?runs={','.join(ours_ids['compare'])}", first_run_name),
                    (
                        f"{theirs}/#/compare-runs?runs={json.dumps(theirs_ids['compare'])}"
                        f"&experiments={json.dumps([mlflow_eid])}",
                        first_run_name,
                    ),
                ),
            }
            pages = {k: v for k, v in pages.items() if k in args.pages.split(",")}
            chromium = shutil.which("chromium") or shutil.which("chromium-browser")
            samples: dict[str, dict[str, list[float | None]]] = {
                k: {"loopwright": [], "mlflow": []} for k in pages
            }
            failures: dict[str, str] = {}
            # the 1-minute load as the timing begins (the environment's figure is the script's start)
            result["load_average_timing_start"] = round(os.getloadavg()[0], 2)
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path=chromium, headless=True, args=["--no-sandbox"]
                )
                for name, ((our_url, our_ready), (their_url, their_ready)) in pages.items():
                    timed(
                        browser, our_url, our_ready, args.timeout
                    )  # warm the servers' own caches, not timed
                    timed(browser, their_url, their_ready, args.timeout)
                    for _ in range(args.repeats):
                        for side, url, ready in (
                            ("loopwright", our_url, our_ready),
                            ("mlflow", their_url, their_ready),
                        ):
                            seconds, why = timed(browser, url, ready, args.timeout)
                            samples[name][side].append(seconds)
                            if why:
                                failures[f"{name}/{side}"] = why
                browser.close()
            result["samples_s"] = samples
            result["failures"] = failures
            medians: dict[str, dict[str, float | None]] = {}
            ratios: dict[str, float | None] = {}
            for name, sides in samples.items():
                medians[name] = {side: _median(v) for side, v in sides.items()}
                ours_s, theirs_s = medians[name]["loopwright"], medians[name]["mlflow"]
                ratios[name] = round(theirs_s / ours_s, 1) if ours_s and theirs_s else None
            result["seconds_median"] = medians
            result["mlflow_over_loopwright_x"] = ratios
            result["load_average_end"] = round(os.getloadavg()[0], 2)
    finally:
        if not args.keep:
            with admin.connect() as conn:
                conn.execute(sa.text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
                conn.execute(sa.text(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)"))
        admin.dispose()
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
