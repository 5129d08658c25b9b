"""MLflow's side of bench/tracking.py; runs inside bench/.venv-mlflow and prints JSON."""

import json
import logging
import random
import sys
import time

import mlflow
from mlflow.entities import Metric
from mlflow.tracking import MlflowClient

logging.getLogger("mlflow").setLevel(logging.ERROR)
db, search_filter = sys.argv[1], sys.argv[2]
repeat, single, runs = map(int, sys.argv[3:6])
mlflow.set_tracking_uri(f"sqlite:///{db}")
mlflow.set_experiment("bench")  # creates the schema: not timed
client = MlflowClient()
out = {}
with mlflow.start_run(run_name="single"):
    start = time.perf_counter()
    for i in range(single):
        mlflow.log_metric("loss", 1.0 / (i + 1), step=i)
    out["single_log_metric_s"] = time.perf_counter() - start
with mlflow.start_run(run_name="batch") as run:
    start = time.perf_counter()
    for batch in range(20):
        now = int(time.time() * 1000)
        metrics = [Metric(f"m{i % 10}", float(i), now, batch * 1000 + i) for i in range(1000)]
        client.log_batch(run.info.run_id, metrics=metrics)
    out["batch_20k_s"] = time.perf_counter() - start
start = time.perf_counter()
for r in range(runs):
    with mlflow.start_run(run_name=f"run{r}"):
        mlflow.log_params({f"p{k}": f"v{(r + k) % 3}" for k in range(10)})
        mlflow.log_metrics({f"m{k}": random.random() for k in range(10)})
out["create_runs_s"] = time.perf_counter() - start
# the DataFrame form (what Loopwright's search_runs() returns by default) ...
start = time.perf_counter()
for _ in range(repeat):
    found = mlflow.search_runs(
        experiment_names=["bench"], filter_string=search_filter, order_by=["metrics.m0 DESC"]
    )
out["search_frame_s"] = (time.perf_counter() - start) / repeat
out["search_frame_hits"] = len(found)
# ... and the list of Run entities (what search_runs(output="list") returns)
experiment_id = mlflow.get_experiment_by_name("bench").experiment_id
start = time.perf_counter()
for _ in range(repeat):
    found = client.search_runs(
        [experiment_id], filter_string=search_filter, order_by=["metrics.m0 DESC"], max_results=1000
    )
out["search_list_s"] = (time.perf_counter() - start) / repeat
out["search_list_hits"] = len(found)
print(json.dumps(out))
