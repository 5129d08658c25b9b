"""MLflow's side of bench/registry.py; runs inside bench/.venv-mlflow and prints JSON."""

import json
import logging
import os
import sys
import tempfile
import time

import mlflow
from mlflow.tracking import MlflowClient

logging.getLogger("mlflow").setLevel(logging.ERROR)
db, versions, moves, lookups, repeat = sys.argv[1], *map(int, sys.argv[2:6])
mlflow.set_tracking_uri(f"sqlite:///{db}")
mlflow.set_experiment("bench")  # creates the schema: not timed
client = MlflowClient()
with mlflow.start_run() as run:  # a run holding a "model" folder, as log_model leaves it
    folder = tempfile.mkdtemp()
    os.makedirs(f"{folder}/model")
    for name, text in (("MLmodel", "flavors: {}\n"), ("weights.bin", "w" * 1000)):
        with open(f"{folder}/model/{name}", "w") as handle:
            handle.write(text)
    mlflow.log_artifacts(f"{folder}/model", "model")
source = f"runs:/{run.info.run_id}/model"
client.create_registered_model("churn")
out = {}
start = time.perf_counter()
for _ in range(versions):
    client.create_model_version("churn", source, run_id=run.info.run_id)
out["register_s"] = time.perf_counter() - start
start = time.perf_counter()
for i in range(moves):
    client.set_registered_model_alias("churn", "champion", str(1 + i % versions))
out["alias_moves_s"] = time.perf_counter() - start
start = time.perf_counter()
for _ in range(lookups):
    client.get_model_version_by_alias("churn", "champion")
out["alias_lookups_s"] = time.perf_counter() - start
start = time.perf_counter()
for _ in range(repeat):
    found = client.search_model_versions("name = 'churn'")
out["search_s"] = (time.perf_counter() - start) / repeat
out["search_hits"] = len(found)
print(json.dumps(out))
