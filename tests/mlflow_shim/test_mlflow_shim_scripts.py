"""MLflow tutorial-style scripts run with only `import mlflow` changed to `import loopwright.mlflow as mlflow`;
what they logged is then read through Loopwright's own API."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

import loopwright as lw

SCRIPTS = Path(__file__).parent / "scripts"


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[subprocess.Popen[str], Path]]:
    # every script at once, each against its own fresh home: the imports dominate and overlap
    started = {}
    for script in sorted(SCRIPTS.glob("*.py")):
        if script.name == "custom_models.py":
            continue
        home = tmp_path_factory.mktemp(script.stem)
        env = {k: v for k, v in os.environ.items() if not k.startswith("LOOPWRIGHT_")}
        env["LOOPWRIGHT_HOME"] = str(home)
        proc = subprocess.Popen(
            [sys.executable, str(script)],
            cwd=SCRIPTS,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        started[script.name] = (proc, home)
    return started


@pytest.fixture
def run_script(ran: dict[str, tuple[subprocess.Popen[str], Path]]) -> Callable[[str], tuple[str, lw.Client]]:
    def finish(name: str) -> tuple[str, lw.Client]:
        proc, home = ran[name]
        stdout, stderr = proc.communicate(timeout=240)
        assert proc.returncode == 0, stderr[-3000:]
        client = lw.Client(f"sqlite:///{home / 'loopwright.db'}", str(home / "artifacts"))
        return stdout.strip().splitlines()[-1], client

    return finish


def test_sklearn_tutorial(run_script: Callable[[str], tuple[str, lw.Client]]) -> None:
    last, client = run_script("sklearn_tutorial.py")
    _, run_id, uri, n_predictions = last.split()
    run = client.get_run(run_id)
    assert run.name == "elasticnet" and run.status == "finished"
    assert run.params["alpha"] == "0.05" and run.tags["team"] == "wine"
    assert set(run.metrics) == {"rmse", "r2", "mae"}
    assert client.get_experiment(run.experiment_id).name == "wine-quality"
    [dataset] = client.get_dataset_inputs(run_id)
    assert (dataset.name, dataset.context, dataset.source, dataset.n_rows) == (
        "dataset",
        "training",
        "wine.csv",
        150,
    )
    model = lw.load_model(uri, client=client)
    assert (
        model.flavor == "sklearn"
        and model.signature is not None
        and model.signature.columns[0] == "fixed_acidity"
    )
    assert int(n_predictions) == 50


def test_nested_runs_and_search(run_script: Callable[[str], tuple[str, lw.Client]]) -> None:
    last, client = run_script("nested_runs.py")
    assert last.endswith("['trial-2', 'trial-1']")
    parent_id = last.split()[1]
    children = client.list_child_runs(parent_id)
    assert sorted(c.name for c in children) == ["trial-0", "trial-1", "trial-2"]
    assert [p.value for p in client.list_metric_history(children[0].id, "loss")] == [1.1, 0.6, 1 / 3 + 0.1]
    assert client.get_run(parent_id).metrics == {"best_loss": 0.34}


def test_registry_workflow(run_script: Callable[[str], tuple[str, lw.Client]]) -> None:
    last, client = run_script("registry_workflow.py")
    assert last == "VERSIONS ['2', '1'] {'owner': 'ana'}"
    registry = lw.RegistryClient(client)
    model = registry.get_registered_model("churn-rf")
    assert model.description == "first model" and model.aliases == {"champion": 1}
    assert registry.get_model_version("churn-rf", 2).source.endswith("/rf")


def test_artifacts_killed_run_and_python_model(run_script: Callable[[str], tuple[str, lw.Client]]) -> None:
    last, client = run_script("artifacts_and_client.py")
    _, run_id, killed_id = last.split()
    paths = {a.path for a in client.list_artifacts(run_id)}
    assert {"configs/config.json", "settings/thresholds.json", "notes.txt", "images/black.png"} <= paths
    assert client.load_bytes(run_id, "images/black.png").startswith(b"\x89PNG")
    killed = client.get_run(killed_id)
    assert killed.status == "failed" and killed.error == "ended with status KILLED"
    manifest = client.load_dict(run_id, "adder/manifest.json")
    assert manifest["flavor"] == "pyfunc" and manifest["flavor_options"]["class"] == "custom_models:AddN"
    assert manifest["allow_pickle"] is False


def test_autolog_script(run_script: Callable[[str], tuple[str, lw.Client]]) -> None:
    last, client = run_script("xgboost_autolog.py")
    assert last == "RUNS 5"
    runs = client.search_runs("autolog", output="list")
    by_class = {r.tags.get("estimator_name"): r for r in runs if r.parent_id is None}
    assert set(by_class) == {"Pipeline", "GridSearchCV", "Booster"}
    assert by_class["Pipeline"].params["clf__C"] == "1.0"
    children = client.list_child_runs(by_class["GridSearchCV"].id)
    assert sorted(c.params["C"] for c in children) == ["0.1", "1.0"]
    assert [p.step for p in client.list_metric_history(by_class["Booster"].id, "train-logloss")] == [
        0,
        1,
        2,
        3,
    ]


@pytest.mark.parametrize("script", sorted(p.name for p in SCRIPTS.glob("*.py")))
def test_scripts_only_import_the_shim(script: str) -> None:
    text = (SCRIPTS / script).read_text()
    assert "import mlflow" not in text.replace("import loopwright.mlflow as mlflow", "")
