"""An unmodified MLflow client (mlflow-skinny) against a real ``loopwright server`` on SQLite.

One scripted MLflow workflow per module — experiment, nested runs, params, metrics, tags, artifacts,
searches, registry with aliases, an sklearn model logged by ``mlflow.sklearn.log_model`` and loaded
back by MLflow's own ``mlflow.pyfunc.load_model`` through the artifact proxy — then the same data is
read through Loopwright's API and CLI. Also: MLflow's error format for unsupported endpoints and for
our own errors, KILLED runs. The server runs with ``--auth``: the client sends ``MLFLOW_TRACKING_TOKEN``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

import loopwright as lw
from cli_process import PlatformServer, run_cli

mlflow = pytest.importorskip("mlflow")  # a test-only dependency: CI installs mlflow-skinny
from mlflow import MlflowClient  # noqa: E402
from mlflow.exceptions import MlflowException  # noqa: E402

# skips MLflow's requirement inference (a subprocess); cloudpickle skips importing skops, whose
# estimator walk imports torch (half a minute on a busy CI machine): the proxy moves bytes either way
REQUIREMENTS = ["scikit-learn"]


@dataclass
class Server:
    """``loopwright server --auth`` on SQLite and a token per role (created before it started)."""

    process: PlatformServer
    tokens: dict[str, str]

    @property
    def url(self) -> str:
        return self.process.url


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    home = tmp_path_factory.mktemp("mlflow-rest")
    uri = f"sqlite:///{home}/lw.db"
    tokens = {
        role: lw.create_token(f"{role}-user", role, store_uri=uri)[1] for role in ("viewer", "maintainer")
    }
    process = PlatformServer(
        "--auth", "--store-uri", uri, "--artifact-uri", str(home / "artifacts"), timeout=240
    )
    try:
        yield Server(process, tokens)
    finally:
        log = process.stop()
        assert "Traceback" not in log, log[-3000:]
        assert not any(token in log for token in tokens.values())


@pytest.fixture(scope="module")
def workflow(server: Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The MLflow script, run once as a maintainer; what it produced, for the tests to check."""
    from sklearn.linear_model import LogisticRegression

    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(server.url)
    os.environ["MLFLOW_TRACKING_TOKEN"] = server.tokens["maintainer"]
    files = tmp_path_factory.mktemp("files")
    (files / "notes.md").write_text("# churn\n")
    try:
        experiment = mlflow.set_experiment("churn")
        with mlflow.start_run(run_name="parent") as parent:
            mlflow.log_param("C", 0.5)
            mlflow.log_params({"penalty": "l2", "max_iter": 100})
            mlflow.set_tag("team", "risk")
            for step in range(5):
                mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
            mlflow.log_metrics({"auc": 0.91, "f1": 0.8})
            mlflow.log_dict({"threshold": 0.4}, "config/params.json")
            mlflow.log_text("hello from mlflow", "notes.txt")
            mlflow.log_artifact(str(files / "notes.md"), "docs")
            for auc in (0.7, 0.95):
                with mlflow.start_run(run_name=f"child-{auc}", nested=True):
                    mlflow.log_param("C", auc)
                    mlflow.log_metric("auc", auc)
        X = np.random.RandomState(0).rand(40, 3)
        y = (X[:, 0] > 0.5).astype(int)
        model = LogisticRegression().fit(X, y)
        with mlflow.start_run(run_name="train") as train:
            info = mlflow.sklearn.log_model(
                model,
                name="model",
                input_example=X[:2],
                pip_requirements=REQUIREMENTS,
                serialization_format="cloudpickle",
                registered_model_name="churn-skl",
            )
        client = MlflowClient()
        client.create_registered_model("churn-config")
        version = client.create_model_version(
            "churn-config", f"runs:/{parent.info.run_id}/config", run_id=parent.info.run_id
        )
        client.set_registered_model_alias("churn-config", "champion", version.version)
        client.set_registered_model_alias("churn-skl", "champion", info.registered_model_version)
        yield {
            "experiment_id": experiment.experiment_id,
            "parent": parent.info.run_id,
            "train": train.info.run_id,
            "info": info,
            "X": X,
            "expected": model.predict(X[:5]),
        }
    finally:
        os.environ.pop("MLFLOW_TRACKING_TOKEN", None)
        mlflow.set_tracking_uri(previous)


@pytest.fixture
def at_server(server: Server, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The MLflow client (as a maintainer) and Loopwright's own API (as a viewer) at the server."""
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(server.url)
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", server.tokens["maintainer"])
    monkeypatch.setenv("LOOPWRIGHT_STORE_URI", server.url)
    monkeypatch.setenv("LOOPWRIGHT_TOKEN", server.tokens["viewer"])
    lw.reset_clients()
    yield
    lw.reset_clients()
    mlflow.set_tracking_uri(previous)


def test_runs_read_back_through_mlflow(workflow: dict[str, Any], at_server: None) -> None:
    client = MlflowClient()
    parent = client.get_run(workflow["parent"])
    assert parent.info.status == "FINISHED" and parent.info.run_name == "parent"
    assert parent.info.artifact_uri == f"mlflow-artifacts:/runs/{workflow['parent']}"
    assert parent.info.end_time >= parent.info.start_time > 1_700_000_000_000  # milliseconds
    assert parent.data.params == {"C": "0.5", "penalty": "l2", "max_iter": "100"}
    assert parent.data.metrics == {"loss": 0.2, "auc": 0.91, "f1": 0.8}
    assert parent.data.tags["team"] == "risk" and parent.data.tags["mlflow.user"]
    history = client.get_metric_history(workflow["parent"], "loss")
    assert [(m.step, m.value) for m in history] == [(s, 1.0 / (s + 1)) for s in range(5)]
    assert all(m.timestamp > 1_700_000_000_000 for m in history)

    frame = mlflow.search_runs(
        experiment_names=["churn"], filter_string="metrics.auc > 0.8", order_by=["metrics.auc DESC"]
    )
    assert list(frame["tags.mlflow.runName"]) == ["child-0.95", "parent"]
    assert set(frame["status"]) == {"FINISHED"} and "params.C" in frame.columns
    children = mlflow.search_runs(
        experiment_ids=[workflow["experiment_id"]],
        filter_string=f"tags.mlflow.parentRunId = '{workflow['parent']}'",
        order_by=["params.C ASC"],
        output_format="list",
    )
    assert [run.data.params["C"] for run in children] == ["0.7", "0.95"]
    assert {run.data.tags["mlflow.parentRunId"] for run in children} == {workflow["parent"]}
    order = ["attributes.start_time ASC"]
    page = client.search_runs([workflow["experiment_id"]], max_results=2, order_by=order)
    rest = client.search_runs(
        [workflow["experiment_id"]], max_results=2, order_by=order, page_token=page.token
    )
    assert page.token and len(page) == 2 and len(rest) == 2
    assert [r.info.run_name for r in [*page, *rest]] == ["parent", "child-0.7", "child-0.95", "train"]


def test_artifacts_through_the_proxy(workflow: dict[str, Any], at_server: None, tmp_path: Path) -> None:
    run_id = workflow["parent"]
    client = MlflowClient()
    assert [(f.path, f.is_dir) for f in client.list_artifacts(run_id)] == [
        ("config", True),
        ("docs", True),
        ("notes.txt", False),
    ]
    assert [(f.path, f.file_size) for f in client.list_artifacts(run_id, "config")] == [
        ("config/params.json", 22)
    ]
    assert mlflow.artifacts.load_dict(f"runs:/{run_id}/config/params.json") == {"threshold": 0.4}
    local = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="docs", dst_path=str(tmp_path))
    assert (Path(local) / "notes.md").read_text() == "# churn\n"
    # the same files are Loopwright run artifacts, stored content-addressed
    assert lw.load_text(run_id, "notes.txt") == "hello from mlflow"
    refs = {ref.path: ref for ref in lw.list_artifacts(run_id)}
    assert set(refs) == {"config/params.json", "notes.txt", "docs/notes.md"}
    assert len(refs["notes.txt"].digest) == 64


def test_sklearn_model_loads_back_with_mlflow_pyfunc(workflow: dict[str, Any], at_server: None) -> None:
    info = workflow["info"]
    assert info.model_uri == f"models:/{info.model_id}" and info.model_id.startswith("m-")
    for uri in (info.model_uri, f"runs:/{workflow['train']}/model", "models:/churn-skl@champion"):
        loaded = mlflow.pyfunc.load_model(uri)
        np.testing.assert_array_equal(loaded.predict(workflow["X"][:5]), workflow["expected"])
    assert loaded.metadata.signature is not None
    assert [f.path for f in MlflowClient().list_artifacts(workflow["train"], "model")][:1] == [
        "model/MLmodel"
    ]


def test_registry(workflow: dict[str, Any], at_server: None) -> None:
    client = MlflowClient()
    champion = client.get_model_version_by_alias("churn-config", "champion")
    assert (champion.version, champion.run_id, champion.aliases) == ("1", workflow["parent"], ["champion"])
    assert client.get_registered_model("churn-skl").aliases == {"champion": "1"}
    versions = client.search_model_versions("name = 'churn-skl'")
    assert [(v.version, v.run_id, v.status) for v in versions] == [("1", workflow["train"], "READY")]
    assert {m.name for m in client.search_registered_models()} == {"churn-config", "churn-skl"}
    with pytest.raises(MlflowException, match="RESOURCE_ALREADY_EXISTS"):
        client.create_registered_model("churn-skl")
    client.delete_registered_model_alias("churn-config", "champion")
    with pytest.raises(MlflowException, match="RESOURCE_DOES_NOT_EXIST"):
        client.get_model_version_by_alias("churn-config", "champion")
    # the version's files were copied out of the run: the registry keeps them
    local = mlflow.artifacts.download_artifacts("models:/churn-config/1")
    assert json.loads((Path(local) / "params.json").read_text()) == {"threshold": 0.4}


def test_loopwright_api_and_cli_see_what_mlflow_wrote(
    workflow: dict[str, Any], at_server: None, server: Server
) -> None:
    run = lw.get_run(workflow["parent"])
    assert (run.name, run.status, run.params["C"], run.metrics["auc"]) == ("parent", "finished", "0.5", 0.91)
    assert run.system_tags["loopwright.user"] == "maintainer-user"  # the token's user, as under /api/v1
    assert [p.value for p in lw.list_metric_history(run.id, "loss")][-1] == 0.2
    children = lw.search_runs(
        "churn", filter=f"parent_id = '{run.id}'", order_by="metrics.auc DESC", output="list"
    )
    assert [child.name for child in children] == ["child-0.95", "child-0.7"]
    version = lw.get_model_version_by_alias("churn-skl", "champion")
    assert (version.version, version.run_id) == (1, workflow["train"])
    listed = run_cli(
        "runs", "list", "-e", "churn", "--output", "json", env={"LOOPWRIGHT_STORE_URI": server.url}
    )
    assert listed.returncode == 0, listed.stderr
    names = {row["name"]: row for row in json.loads(listed.stdout)}
    assert set(names) == {"parent", "child-0.7", "child-0.95", "train"}
    assert names["parent"]["metrics"]["auc"] == 0.91


def test_killed_runs_and_errors_in_mlflow_format(
    workflow: dict[str, Any], at_server: None, server: Server
) -> None:
    client = MlflowClient()
    default = client.create_run("0", run_name="in-default")  # MLflow's Default experiment id
    assert client.get_experiment(default.info.experiment_id).name == "Default"
    assert lw.get_run(default.info.run_id).experiment_id == default.info.experiment_id
    run = client.create_run(workflow["experiment_id"], run_name="interrupted")
    client.set_terminated(run.info.run_id, "KILLED")
    assert client.get_run(run.info.run_id).info.status == "KILLED"
    assert lw.get_run(run.info.run_id).status == "failed"  # Loopwright's own status, the tag says why
    with pytest.raises(MlflowException, match="RESOURCE_DOES_NOT_EXIST"):
        client.get_run("0" * 32)
    with pytest.raises(MlflowException, match="INVALID_PARAMETER_VALUE"):
        client.log_param(workflow["parent"], "C", "2")  # a param is logged once
    with pytest.raises(MlflowException, match="experiments/set-experiment-tag"):
        client.set_experiment_tag(workflow["experiment_id"], "k", "v")
    answer = httpx.post(f"{server.url}/ajax-api/2.0/mlflow/traces/nope", json={})
    assert answer.status_code == 404
    assert answer.json() == {
        "error_code": "ENDPOINT_NOT_FOUND",
        "message": "POST /ajax-api/2.0/mlflow/traces/nope is not supported by Loopwright's MLflow API "
        "(see docs/DESIGN.md, MLflow compatibility)",
    }
    bad = httpx.post(
        f"{server.url}/api/2.0/mlflow/runs/log-metric",
        json={"run_id": workflow["parent"], "key": "x"},
        headers={"Authorization": f"Bearer {server.tokens['maintainer']}"},
    )
    assert bad.status_code == 400 and bad.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert "value" in bad.json()["message"]


def test_auth_uses_mlflow_tracking_token(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(server.url)
    try:
        monkeypatch.delenv("MLFLOW_TRACKING_TOKEN", raising=False)
        with pytest.raises(MlflowException, match="UNAUTHENTICATED"):
            MlflowClient().create_experiment("secured")
        answer = httpx.post(f"{server.url}/api/2.0/mlflow/experiments/create", json={"name": "secured"})
        assert answer.status_code == 401 and answer.json()["error_code"] == "UNAUTHENTICATED"
        assert answer.headers["www-authenticate"] == "Bearer"
        monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", server.tokens["viewer"])
        with pytest.raises(MlflowException, match="PERMISSION_DENIED"):
            MlflowClient().create_experiment("secured")
        monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", server.tokens["maintainer"])
        experiment_id = MlflowClient().create_experiment("secured")
        run = MlflowClient().create_run(experiment_id)
        MlflowClient().log_metric(run.info.run_id, "auc", 0.9)
        monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", server.tokens["viewer"])
        assert MlflowClient().get_run(run.info.run_id).data.metrics == {"auc": 0.9}
        with pytest.raises(MlflowException, match="PERMISSION_DENIED"):
            MlflowClient().log_metric(run.info.run_id, "auc", 0.8)
    finally:
        mlflow.set_tracking_uri(previous)
