"""lw.autolog(): what a fit records, that nested fits are logged once, and that disabling restores fit."""

from __future__ import annotations

from pathlib import Path

import lightgbm
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

import loopwright as lw
import loopwright.mlflow as mlflow

RNG = np.random.default_rng(3)
X = pd.DataFrame(RNG.normal(size=(60, 3)), columns=["a", "b", "c"])
Y = (X["a"] - X["b"] > 0).astype(int)


@pytest.fixture
def autologging(sqlite_env: Path):
    lw.autolog()
    yield sqlite_env
    lw.autolog(disable=True)


def test_pipeline_fit_is_one_run_with_params_metrics_model_and_dataset(autologging: Path) -> None:
    Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression(C=0.5))]).fit(X, Y)
    [run] = lw.search_runs(output="list")
    assert run.status == "finished" and run.tags["estimator_name"] == "Pipeline"
    assert run.params["clf__C"] == "0.5" and "scale__with_mean" in run.params
    assert 0.8 < run.metrics["training_accuracy_score"] <= 1.0
    assert {"training_f1_score", "training_log_loss", "training_roc_auc", "training_score"} <= set(
        run.metrics
    )
    model = lw.load_model(f"runs:/{run.id}/model")
    assert model.signature is not None and model.signature.columns == ["a", "b", "c"]
    assert len(model.input_example) == 5
    [dataset] = lw.get_client().get_dataset_inputs(run.id)
    assert (dataset.name, dataset.context, dataset.n_rows) == ("train", "train", 60)


def test_fit_inside_an_active_run_logs_there_and_leaves_it_open(autologging: Path) -> None:
    with mlflow.start_run(run_name="mine") as run:
        LinearRegression().fit(X, X["a"] * 2)
        assert mlflow.active_run().info.run_id == run.info.run_id
    [found] = lw.search_runs(output="list")
    assert found.name == "mine" and found.metrics["training_r2_score"] == pytest.approx(1.0)


def test_grid_search_has_child_runs_per_candidate(autologging: Path) -> None:
    GridSearchCV(LogisticRegression(), {"C": [0.01, 0.1, 1.0]}, cv=2).fit(X, Y)
    [parent] = [r for r in lw.search_runs(output="list") if r.parent_id is None]
    assert parent.params["best_C"] in {"0.01", "0.1", "1.0"} and "best_cv_score" in parent.metrics
    children = lw.list_child_runs(parent.id)
    assert sorted(c.params["C"] for c in children) == ["0.01", "0.1", "1.0"]
    assert all("mean_test_score" in c.metrics and c.status == "finished" for c in children)


def test_failing_fit_fails_the_run_it_started(autologging: Path) -> None:
    with pytest.raises(ValueError):
        LogisticRegression().fit(X, np.zeros(len(X)))  # one class
    [run] = lw.search_runs(output="list")
    assert run.status == "failed" and "ValueError" in (run.error or "")


def test_lightgbm_wrapper_logs_per_iteration_eval_metrics(autologging: Path) -> None:
    lightgbm.LGBMClassifier(n_estimators=3, verbose=-1).fit(X, Y, eval_X=(X[:30],), eval_y=(Y[:30],))
    [run] = lw.search_runs(output="list")
    history = lw.list_metric_history(run.id, "valid_0-binary_logloss")
    assert [p.step for p in history] == [0, 1, 2] and history[2].value < history[0].value
    assert lw.load_model(f"runs:/{run.id}/model").flavor == "lightgbm"


def test_disable_restores_fit_and_logs_nothing(sqlite_env: Path) -> None:
    original = LogisticRegression.fit
    mlflow.sklearn.autolog()
    assert LogisticRegression.fit is not original
    mlflow.sklearn.autolog(disable=True)
    assert LogisticRegression.fit is original
    LogisticRegression().fit(X, Y)
    assert lw.search_runs(output="list") == []


def test_autolog_refuses_unknown_frameworks_and_options(sqlite_env: Path) -> None:
    with pytest.raises(lw.InvalidInput, match="unknown framework"):
        lw.autolog(frameworks=["keras"])
    with pytest.raises(lw.InvalidInput, match="log_model_signatures"):
        mlflow.autolog(log_model_signatures=False)


def test_xgboost_wrapper_logs_eval_history_and_a_loadable_model(autologging: Path) -> None:
    import xgboost

    xgboost.XGBClassifier(n_estimators=3, max_depth=2).fit(X, Y, eval_set=[(X[:30], Y[:30])], verbose=False)
    [run] = lw.search_runs(output="list")
    assert run.tags["estimator_name"] == "XGBClassifier" and run.params["max_depth"] == "2"
    assert [p.step for p in lw.list_metric_history(run.id, "validation_0-logloss")] == [0, 1, 2]
    model = lw.load_model(f"runs:/{run.id}/model")
    assert model.flavor == "xgboost" and model.signature is not None and len(model.predict(X[:4])) == 4
