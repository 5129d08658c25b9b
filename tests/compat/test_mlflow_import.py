"""``loopwright import mlflow``: an MLflow SQLite store built by the real MLflow client, imported by the CLI.

One MLflow store per module: experiment ``churn`` (tags), a parent run (params, tags, a 5-step loss
history, an artifact file) with a nested child run, an sklearn model saved by MLflow with skops
(converts without pickle), one saved with cloudpickle (needs --allow-pickle), an XGBoost model (native
file), and registered model ``churn`` with 2 versions and alias ``champion``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import mlflow  # a test-only dependency (mlflow-skinny, in the dev extra)
import numpy as np
import pytest

import loopwright as lw
from cli_process import run_cli
from loopwright.models.loading import load_model_from_manifest


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    import xgboost
    from sklearn.linear_model import LogisticRegression

    root = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{root}/mlflow.db"
    ml = mlflow.MlflowClient(uri, uri)
    exp = ml.create_experiment("churn", artifact_location=str(root / "mlartifacts"), tags={"team": "risk"})
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    mlflow.set_experiment(experiment_id=exp)
    X = np.random.RandomState(0).rand(40, 3)
    y = (X[:, 0] > 0.5).astype(int)
    (root / "notes.txt").write_text("hello from mlflow")
    requirements = ["scikit-learn"]  # skips MLflow's requirement inference (seconds per model)
    with mlflow.start_run(run_name="parent") as parent:
        mlflow.log_params({"C": "0.5", "penalty": "l2"})
        mlflow.set_tag("owner", "ana")
        for step in range(5):
            ml.log_metric(
                parent.info.run_id, "loss", 1.0 / (step + 1), timestamp=1_700_000_000_000 + step, step=step
            )
        mlflow.log_artifact(str(root / "notes.txt"), "docs")
        with mlflow.start_run(run_name="child", nested=True) as child:
            mlflow.log_metric("acc", 0.9)
        fitted = LogisticRegression().fit(X, y)
        mlflow.sklearn.log_model(
            fitted, name="skops_model", input_example=X[:2], pip_requirements=requirements
        )
        pickled = mlflow.sklearn.log_model(
            LogisticRegression(C=2.0).fit(X, y), name="pickled_model", serialization_format="cloudpickle",
            input_example=X[:2], pip_requirements=requirements,
        )  # fmt: skip
        booster = mlflow.xgboost.log_model(
            xgboost.XGBClassifier(n_estimators=3).fit(X, y), name="xgb", input_example=X[:2],
            pip_requirements=["xgboost"],
        )  # fmt: skip
    ml.create_registered_model("churn", tags={"domain": "risk"}, description="churn models")
    ml.create_model_version("churn", pickled.model_uri, run_id=parent.info.run_id, description="first")
    ml.create_model_version("churn", booster.model_uri, run_id=parent.info.run_id, tags={"k": "v"})
    ml.set_registered_model_alias("churn", "champion", "2")
    mlflow.set_tracking_uri("")  # back to MLflow's default for whatever runs next in this process
    return {
        "uri": uri, "root": root, "ml": ml, "exp": exp, "parent": ml.get_run(parent.info.run_id),
        "child": ml.get_run(child.info.run_id), "X": X,
        "expected": fitted.predict(X[:5]),
    }  # fmt: skip


def _client(tmp_path: Path) -> lw.Client:
    return lw.Client(f"sqlite:///{tmp_path}/lw.db", str(tmp_path / "artifacts"))


def test_cli_imports_everything_and_a_rerun_duplicates_nothing(
    source: dict[str, Any], tmp_path: Path
) -> None:
    env = {
        "LOOPWRIGHT_STORE_URI": f"sqlite:///{tmp_path}/lw.db",
        "LOOPWRIGHT_ARTIFACT_URI": str(tmp_path / "artifacts"),
    }
    done = run_cli("import", "mlflow", "--tracking-uri", source["uri"], env=env)
    assert done.returncode == 0, done.stderr
    # the summary: per-kind counts, then the pickled sklearn model skipped with the reason
    assert "MLflow import" in done.stdout
    skipped = [line for line in done.stdout.splitlines() if "pickled_model" in line]
    assert skipped and "--allow-pickle" in skipped[0], done.stdout

    client = _client(tmp_path)
    parent, child = source["parent"], source["child"]
    run = client.get_run(parent.info.run_id)  # the MLflow run id is kept
    assert run.name == "parent" and run.status == "finished"
    assert run.params == {"C": "0.5", "penalty": "l2"} and run.tags["owner"] == "ana"
    assert int(run.start_time.timestamp() * 1000) == parent.info.start_time
    assert run.end_time is not None and int(run.end_time.timestamp() * 1000) == parent.info.end_time
    history = client.list_metric_history(run.id, "loss")
    assert [(p.step, p.value, p.timestamp) for p in history] == [
        (s, 1.0 / (s + 1), 1_700_000_000_000 + s) for s in range(5)
    ]
    assert [c.id for c in client.list_child_runs(run.id)] == [child.info.run_id]
    assert client.get_run(child.info.run_id).metrics == {"acc": 0.9}
    assert client.get_experiment("churn").tags["team"] == "risk"

    # artifacts re-stored content-addressed: the blob's digest is the file's SHA-256
    notes = client.store.get_artifact("run", run.id, "docs/notes.txt")
    content = (source["root"] / "notes.txt").read_bytes()
    assert notes.digest == hashlib.sha256(content).hexdigest()
    assert client.load_bytes(run.id, "docs/notes.txt") == content

    # skops sklearn and xgboost became packages that predict like the originals; the pickled one did not
    X = source["X"]
    registry = lw.RegistryClient(client)
    sk_digest = client.store.get_artifact("run", run.id, "skops_model/manifest.json").digest
    assert list(load_model_from_manifest(sk_digest, client).predict(X[:5])) == list(source["expected"])
    with pytest.raises(lw.NotFound):
        client.store.get_artifact("run", run.id, "pickled_model/manifest.json")
    assert client.store.get_artifact("run", run.id, "pickled_model/MLmodel").size > 0  # kept as files

    # registry: versions by MLflow's number, tags, description, alias; v2 is the xgboost package
    v1, v2 = registry.get_model_version("churn", 1), registry.get_model_version("churn", 2)
    assert v1.description == "first" and v1.manifest_digest is None and v1.run_id == run.id
    assert v2.tags["k"] == "v" and v2.tags["loopwright.import.mlflow_version"] == "2" and v2.manifest_digest
    assert registry.get_model_version_by_alias("churn", "champion").version == 2
    model = registry.get_registered_model("churn")
    assert model.description == "churn models" and model.tags["domain"] == "risk"
    assert load_model_from_manifest(v2.manifest_digest, client).predict(X[:3]).shape == (3,)

    # a re-run (the API the command mirrors, in this process) imports nothing and duplicates nothing
    again = lw.import_mlflow(source["uri"], client=client)
    assert not [i for i in again.items if i.imported], [i for i in again.items if i.imported]
    assert {i.reason for i in again.skipped("run")} == {"already imported"}
    assert len(client.list_metric_history(run.id, "loss")) == 5
    assert len(client.search_runs("churn", output="list")) == 2
    assert registry.get_registered_model("churn").latest_version == 2
    assert len(client.list_artifacts(run.id, prefix="docs/")) == 1


def test_allow_pickle_converts_pickled_models_and_marks_them(source: dict[str, Any], tmp_path: Path) -> None:
    client = _client(tmp_path)
    report = lw.import_mlflow(source["uri"], experiments=["churn"], allow_pickle=True, client=client)
    assert not report.skipped("model"), report.skipped("model")
    run_id = source["parent"].info.run_id
    assert client.get_run(run_id).system_tags["loopwright.import.unpickled"] == "true"
    v1 = client.store.get_model_version("churn", 1)
    assert v1.manifest_digest and v1.tags["loopwright.import.unpickled"] == "true"
    # re-saved by Loopwright's sklearn flavor (skops): loading it needs no pickle permission
    assert load_model_from_manifest(v1.manifest_digest, client).predict(source["X"][:2]).shape == (2,)


def test_a_rerun_after_new_mlflow_runs_imports_only_those(source: dict[str, Any], tmp_path: Path) -> None:
    client = _client(tmp_path)
    first = lw.import_mlflow(source["uri"], experiments=["churn"], client=client)
    assert first.counts()["run"] == (2, 0)
    ml = source["ml"]
    new = ml.create_run(source["exp"], run_name="later")
    ml.log_metric(new.info.run_id, "loss", 0.1, step=7)
    ml.set_terminated(new.info.run_id, "KILLED")
    second = lw.import_mlflow(source["uri"], experiments=["churn"], client=client)
    assert second.counts()["run"] == (1, 2)
    assert [i.name for i in second.imported("run")] == ["later"]
    later = client.get_run(new.info.run_id)
    assert later.status == "failed" and later.error == "KILLED in MLflow"
    assert [(p.step, p.value) for p in client.list_metric_history(later.id, "loss")] == [(7, 0.1)]
    ml.delete_run(new.info.run_id)  # leave the shared source as the other tests expect


def test_unknown_experiment_is_one_line_error(source: dict[str, Any], tmp_path: Path) -> None:
    with pytest.raises(lw.NotFound, match="nope"):
        lw.import_mlflow(source["uri"], experiments=["nope"], client=_client(tmp_path))
