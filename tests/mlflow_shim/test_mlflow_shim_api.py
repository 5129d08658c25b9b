"""loopwright.mlflow's translations: tracking URIs, search_runs' MLflow columns, buffered vs synchronous
metrics, and calls it refuses naming the Loopwright equivalent."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import LinearRegression

import loopwright as lw
import loopwright.mlflow as mlflow
from loopwright.mlflow import MlflowClient


def test_search_runs_frame_has_mlflow_columns(lw_env: Path) -> None:
    # on every store (SQLite, PostgreSQL, a loopwright server through RestStore)
    mlflow.set_experiment("cols")
    with mlflow.start_run(run_name="p") as parent, mlflow.start_run(run_name="c", nested=True) as child:
        assert mlflow.log_param("k", 3) == 3
        mlflow.log_metric("m", 1.5)
    frame = mlflow.search_runs(order_by=["attributes.start_time ASC"])
    assert list(frame["run_id"]) == [parent.info.run_id, child.info.run_id]
    assert list(frame["status"]) == ["FINISHED", "FINISHED"]
    assert frame["artifact_uri"].iloc[1] == f"runs:/{child.info.run_id}"
    assert frame["tags.mlflow.parentRunId"].iloc[1] == parent.info.run_id
    assert frame["tags.mlflow.runName"].tolist() == ["p", "c"]
    assert str(frame["start_time"].dtype).startswith("datetime64") and frame["params.k"].iloc[1] == "3"
    assert (
        mlflow.search_runs(experiment_names=["cols"], filter_string="attributes.status = 'FINISHED'").shape[0]
        == 2
    )


def test_synchronous_metric_is_readable_at_once(sqlite_env: Path) -> None:
    with mlflow.start_run() as run:
        mlflow.log_metric("a", 1.0, synchronous=True)
        assert lw.get_client().store.get_run(run.info.run_id).metrics == {"a": 1.0}


def test_logging_without_a_run_starts_one(sqlite_env: Path) -> None:
    mlflow.log_param("alpha", 1)
    run = mlflow.active_run()
    assert run is not None and lw.get_run(run.info.run_id).params == {"alpha": "1"}
    mlflow.end_run()
    assert mlflow.last_active_run().info.status == "FINISHED"


def test_model_logged_without_a_run_and_loaded_both_ways(lw_env: Path) -> None:
    X = np.arange(12.0).reshape(6, 2)
    info = mlflow.sklearn.log_model(LinearRegression().fit(X, X[:, 0]), name="m", input_example=X[:2])
    mlflow.end_run()
    assert info.model_uri == f"runs:/{info.run_id}/m" and info.signature is not None
    pyfunc = mlflow.pyfunc.load_model(info.model_uri)
    assert pyfunc.metadata.run_id == info.run_id and pyfunc.metadata.signature.kind == "tensor"
    assert lw.load_model(info.model_uri).predict(X[:1]).round(6).tolist() == [0.0]
    client = MlflowClient()
    client.create_registered_model("reg", tags={"team": "a"})
    version = client.create_model_version("reg", info.model_uri, info.run_id)
    client.set_registered_model_alias("reg", "champion", version.version)
    assert client.get_model_version_by_alias("reg", "champion").version == "1"
    assert lw.get_registered_model("reg").tags == {"team": "a"}
    assert [v.version for v in client.search_model_versions("name = 'reg'")] == ["1"]


def test_artifact_path_is_accepted_with_a_future_warning(sqlite_env: Path) -> None:
    X = np.arange(12.0).reshape(6, 2)
    with mlflow.start_run(), pytest.warns(FutureWarning, match=r"use name="):
        info = mlflow.sklearn.log_model(LinearRegression().fit(X, X[:, 0]), artifact_path="old")
    assert info.artifact_path == "old"


def test_a_python_model_in_main_is_refused_with_the_fix(sqlite_env: Path) -> None:
    class InMain(mlflow.pyfunc.PythonModel):
        def predict(self, context, model_input, params=None):
            return model_input

    InMain.__module__, InMain.__qualname__ = "__main__", "InMain"  # as a class defined in a script
    with mlflow.start_run(), pytest.raises(lw.InvalidInput, match="move it to an importable module"):
        mlflow.pyfunc.log_model(name="m", python_model=InMain())


@pytest.mark.parametrize(
    ("call", "names"),
    [
        (lambda: mlflow.log_table({"a": [1]}, "t.json"), "lw.log_dict"),
        (lambda: mlflow.create_experiment("x", artifact_location="s3://b"), "LOOPWRIGHT_ARTIFACT_URI"),
        (lambda: MlflowClient().get_latest_versions("m"), "get_model_version_by_alias"),
        (lambda: mlflow.search_runs(output_format="json"), "'pandas' or 'list'"),
        (lambda: mlflow.log_image(np.zeros((2, 2)), key="k"), "mlflow.log_image(image, "),
        (lambda: mlflow.sklearn.log_model(LinearRegression(), name="m", conda_env={}), "pip_requirements"),
        (lambda: mlflow.set_tracking_uri("databricks"), "sqlite:///"),
    ],
)
def test_unsupported_calls_name_the_equivalent(
    sqlite_env: Path, call: Callable[[], object], names: str
) -> None:
    with pytest.raises(mlflow.Unsupported, match=r"not supported by loopwright\.mlflow") as caught:
        call()
    assert names in str(caught.value)
    assert isinstance(caught.value, mlflow.exceptions.MlflowException)


def test_tracking_uri_maps_folders_and_refuses_mlflow_stores(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key in ("LOOPWRIGHT_STORE_URI", "LOOPWRIGHT_ARTIFACT_URI", "LOOPWRIGHT_HOME"):
        monkeypatch.setenv(key, "")  # recorded, so set_tracking_uri's writes are undone after the test
        monkeypatch.delenv(key)
    mlflow.set_tracking_uri(f"file://{tmp_path}/mlruns")
    assert os.environ["LOOPWRIGHT_STORE_URI"] == f"sqlite:///{tmp_path}/mlruns/loopwright.db"
    with mlflow.start_run() as run:
        mlflow.log_metric("x", 1.0)
    client = lw.Client(f"sqlite:///{tmp_path}/mlruns/loopwright.db", str(tmp_path / "mlruns" / "artifacts"))
    assert client.get_run(run.info.run_id).metrics == {"x": 1.0}
    db = tmp_path / "mlflow.db"
    with sqlite3.connect(db) as conn:
        for table in ("latest_metrics", "registered_models", "experiment_tags"):
            conn.execute(f"create table {table} (x int)")
    with pytest.raises(mlflow.Unsupported, match="loopwright import mlflow"):
        mlflow.set_tracking_uri(f"sqlite:///{db}")
    lw.reset_clients()


def test_an_error_in_the_block_fails_the_run_with_its_message(sqlite_env: Path) -> None:
    with pytest.raises(KeyError), mlflow.start_run() as run:
        raise KeyError("label")
    found = mlflow.get_run(run.info.run_id)
    assert found.info.status == "FAILED" and lw.get_run(run.info.run_id).error == "KeyError: 'label'"
    assert mlflow.active_run() is None


def test_tracking_uri_http_logs_through_a_loopwright_server(
    rest_server: tuple[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, backing = rest_server
    monkeypatch.setenv("LOOPWRIGHT_HOME", str(tmp_path))
    for key in ("LOOPWRIGHT_STORE_URI", "LOOPWRIGHT_ARTIFACT_URI"):
        monkeypatch.setenv(key, "")  # recorded, so set_tracking_uri's writes are undone after the test
        monkeypatch.delenv(key)
    lw.reset_clients()
    mlflow.set_tracking_uri(url)
    experiment = f"over-http-{tmp_path.name}"
    mlflow.set_experiment(experiment)
    X = np.arange(12.0).reshape(6, 2)
    with mlflow.start_run(run_name="remote") as run:
        mlflow.log_metric("rmse", 0.25)
        info = mlflow.sklearn.log_model(LinearRegression().fit(X, X[:, 0]), name="m", input_example=X[:2])
    assert mlflow.pyfunc.load_model(info.model_uri).predict(X[:1]).round(6).tolist() == [0.0]
    direct = lw.Client(backing, str(tmp_path / "unused"))  # the server's own database, not through HTTP
    [found] = direct.search_runs(experiment, output="list")
    assert (found.id, found.name, found.metrics) == (run.info.run_id, "remote", {"rmse": 0.25})
    direct.close()
    lw.reset_clients()
