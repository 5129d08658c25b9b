"""MLflow's side of bench/server.py; runs inside bench/.venv-mlflow and prints JSON.

``populate DB_URI SERVER_URL EXPERIMENT RUNS SEED``: create the experiment through the server, then
insert RUNS finished runs (10 params, 10 metrics each) straight into MLflow's tables with PostgreSQL's COPY
(its fastest honest path: the client would take one request per run and per batch).

``client SERVER_URL FILTER PAGE SEARCH_REPEAT LOG_CALLS RUN_COUNT EXPERIMENT...``: per-call metric logging
(one HTTP request per ``log_metric``), run creation (``start_run`` + end), and ``MlflowClient.search_runs``
with the filter over each named experiment, timed through the MLflow client against ``mlflow server``.
"""

import csv
import io
import json
import logging
import random
import sys
import time
import uuid

import mlflow
from mlflow.tracking import MlflowClient

logging.getLogger("mlflow").setLevel(logging.ERROR)


def copy(cursor, table: str, rows: list) -> None:
    """COPY ``rows`` (dicts with the same keys) into ``table``: PostgreSQL's bulk load."""
    columns = list(rows[0])
    text = io.StringIO()
    writer = csv.writer(text)
    for row in rows:
        writer.writerow([row[c] for c in columns])
    text.seek(0)
    cursor.copy_expert(f"COPY {table} ({', '.join(columns)}) FROM STDIN WITH (FORMAT csv)", text)


def populate(db_uri: str, url: str, experiment: str, runs: int, seed: int) -> dict:
    import sqlalchemy as sa

    client = MlflowClient(url)
    experiment_id = client.create_experiment(experiment)
    artifact_root = client.get_experiment(experiment_id).artifact_location
    engine = sa.create_engine(db_uri)
    rng = random.Random(seed)  # the same values, in the same order, as Loopwright's side
    base = int(time.time() * 1000)
    start = time.perf_counter()
    with engine.begin() as conn:
        cursor = conn.connection.driver_connection.cursor()
        for chunk in range(0, runs, 5000):
            ids = [uuid.uuid4().hex for _ in range(min(5000, runs - chunk))]
            run_rows = [
                {
                    "run_uuid": rid,
                    "name": f"r{chunk + i}",
                    "source_type": "LOCAL",
                    "source_name": "",
                    "entry_point_name": "",
                    "user_id": "bench",
                    "status": "FINISHED",
                    "start_time": base + chunk + i,
                    "end_time": base + chunk + i + 1,
                    "source_version": "",
                    "lifecycle_stage": "active",
                    "artifact_uri": f"{artifact_root}/{rid}/artifacts",
                    "experiment_id": int(experiment_id),
                }
                for i, rid in enumerate(ids)
            ]
            copy(cursor, "runs", run_rows)
            param_rows = [
                {"run_uuid": rid, "key": f"p{k}", "value": f"v{rng.randrange(3)}"}
                for rid in ids
                for k in range(10)
            ]
            copy(cursor, "params", param_rows)
            rows = [
                {"run_uuid": rid, "key": f"m{k}", "value": rng.random(), "step": 0, "timestamp": base}
                for rid in ids
                for k in range(10)
            ]
            for row in rows:
                row["is_nan"] = "false"
            copy(cursor, "metrics", rows)
            copy(cursor, "latest_metrics", rows)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("ANALYZE runs, params, metrics, latest_metrics")
    engine.dispose()
    return {"experiment_id": experiment_id, "populate_s": time.perf_counter() - start}


def client_side(url: str, search_filter: str, page: int, repeat: int, calls: int, runs: int, names) -> dict:
    mlflow.set_tracking_uri(url)
    client = MlflowClient(url)
    mlflow.set_experiment(f"bench-{uuid.uuid4().hex[:8]}")  # one request: not timed
    ids = {name: client.get_experiment_by_name(name).experiment_id for name in names}
    out = {}
    with mlflow.start_run(run_name="single"):
        start = time.perf_counter()
        for i in range(calls):
            mlflow.log_metric("loss", 1.0 / (i + 1), step=i)
        out["log_s"] = time.perf_counter() - start
    start = time.perf_counter()
    for r in range(runs):
        with mlflow.start_run(run_name=f"run{r}"):
            pass
    out["create_runs_s"] = time.perf_counter() - start
    for name, experiment_id in ids.items():
        timings = []
        for _ in range(repeat):
            start = time.perf_counter()
            found = client.search_runs(
                [experiment_id], filter_string=search_filter, order_by=["metrics.m0 DESC"], max_results=page
            )
            timings.append(time.perf_counter() - start)
        out[f"search_{name}_first_s"] = timings[0]
        out[f"search_{name}_s"] = sorted(timings)[len(timings) // 2]
        out[f"search_{name}_hits"] = len(found)
        out[f"search_{name}_top"] = found[0].data.metrics["m0"]
    return out


if __name__ == "__main__":
    if sys.argv[1] == "populate":
        db_uri, url, experiment = sys.argv[2:5]
        print(json.dumps(populate(db_uri, url, experiment, int(sys.argv[5]), int(sys.argv[6]))))
    else:
        url, search_filter = sys.argv[2], sys.argv[3]
        page, repeat, calls, runs = map(int, sys.argv[4:8])
        print(json.dumps(client_side(url, search_filter, page, repeat, calls, runs, sys.argv[8:])))
