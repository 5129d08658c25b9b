# Artifacts, dict/text logging, metric history, KILLED runs, a PythonModel logged and served
import json
import os
import tempfile

import numpy as np
import pandas as pd
from custom_models import AddN

import loopwright.mlflow as mlflow
from loopwright.mlflow import MlflowClient

folder = tempfile.mkdtemp()
with open(os.path.join(folder, "config.json"), "w") as f:
    json.dump({"n": 5}, f)
mlflow.set_experiment("artifacts")
with mlflow.start_run() as run:
    mlflow.log_artifact(os.path.join(folder, "config.json"), artifact_path="configs")
    mlflow.log_dict({"threshold": 0.4}, "settings/thresholds.json")
    mlflow.log_text("hello", "notes.txt")
    mlflow.log_image(np.zeros((4, 4, 3), dtype=np.uint8), "images/black.png")
    for step in range(5):
        mlflow.log_metric("acc", step / 10, step=step)
    info = mlflow.pyfunc.log_model(
        name="adder",
        python_model=AddN(),
        artifacts={"config": os.path.join(folder, "config.json")},
        input_example=pd.DataFrame({"x": [1.0, 2.0]}),
    )
with mlflow.start_run(run_name="interrupted") as killed:
    mlflow.end_run(status="KILLED")

client = MlflowClient()
assert [m.value for m in client.get_metric_history(run.info.run_id, "acc")] == [0.0, 0.1, 0.2, 0.3, 0.4]
top = [f.path for f in client.list_artifacts(run.info.run_id)]
assert {"configs", "settings", "notes.txt", "adder", "images"} <= set(top), top
local = mlflow.artifacts.download_artifacts(artifact_uri=f"runs:/{run.info.run_id}/configs/config.json")
with open(local) as f:
    assert json.load(f) == {"n": 5}
local = client.download_artifacts(run.info.run_id, "settings", tempfile.mkdtemp())
with open(os.path.join(local, "thresholds.json")) as f:
    assert json.load(f) == {"threshold": 0.4}
model = mlflow.pyfunc.load_model(info.model_uri)
out = model.predict(pd.DataFrame({"x": [1.0, 2.0]}))
assert list(out) == [6.0, 7.0], out
assert list(model.predict(pd.DataFrame({"x": [1.0]}), params={"extra": 10})) == [16.0]
assert mlflow.get_run(killed.info.run_id).info.status == "KILLED"
print("DONE", run.info.run_id, killed.info.run_id)
