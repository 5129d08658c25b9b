"""The end-to-end demo ``make demo`` runs, on embedded defaults and generated data."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
from rich.console import Console
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

import loopwright as lw


@lw.step
def cancer_data() -> pd.DataFrame:
    """The breast-cancer frame (features + ``target``)."""
    return load_breast_cancer(as_frame=True).frame


@lw.step
def split_data(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    train, test = train_test_split(frame, test_size=0.25, random_state=7, stratify=frame["target"])
    return train, test


@lw.step
def fit_model(train: pd.DataFrame, C: float = 1.0) -> Pipeline:
    model = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=500))
    return model.fit(train.drop(columns="target"), train["target"])


@lw.step
def score_model(model: Pipeline, test: pd.DataFrame) -> dict:
    proba = model.predict_proba(test.drop(columns="target"))[:, 1]
    auc = float(roc_auc_score(test["target"], proba))
    lw.log_metric("auc", auc)
    return {"auc": auc}


@lw.pipeline
def cancer(C: float = 1.0) -> object:
    """load → split → fit → score, each step cached by content."""
    train, test = split_data(cancer_data())
    return score_model(fit_model(train, C=C), test)


def run_demo(console: Console) -> None:
    """Train tracked models on scikit-learn's breast-cancer data, register the best, load it, predict."""
    data = load_breast_cancer(as_frame=True)
    frame: pd.DataFrame = data.frame
    train, test = train_test_split(frame, test_size=0.25, random_state=7, stratify=frame["target"])
    features = [c for c in frame.columns if c != "target"]

    console.rule("[bold]1. tracking")
    lw.set_experiment("demo-cancer")
    for C in (0.01, 0.1, 1.0):
        with lw.start_run(name=f"logreg-C{C}", tags={"demo": "true"}) as run:
            lw.log_params({"C": C, "penalty": "l2"})
            lw.log_dataset(train, name="train", context="train")
            model = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=500))
            model.fit(train[features], train["target"])
            proba = model.predict_proba(test[features])[:, 1]
            for step, threshold in enumerate(np.linspace(0.3, 0.7, 5)):
                lw.log_metric(
                    "acc_at_threshold", accuracy_score(test["target"], proba > threshold), step=step
                )
            lw.log_metrics(
                {
                    "auc": roc_auc_score(test["target"], proba),
                    "acc": accuracy_score(test["target"], proba > 0.5),
                }
            )
            lw.log_dict({"threshold": 0.5, "features": features}, "config.json")
            lw.log_model(model, "model", input_example=train[features][:5], onnx=True)
        console.print(f"run [bold]{run.name}[/] {run.id} finished")

    best = lw.search_runs(
        experiment="demo-cancer", filter="params.penalty = 'l2'", order_by=["metrics.auc DESC"], max_results=3
    )
    console.print(best[["name", "params.C", "metrics.auc", "metrics.acc"]].to_string(index=False))

    console.rule("[bold]2. registry")
    best_run = str(best["run_id"].iloc[0])
    version = lw.register_model(f"runs:/{best_run}/model", "cancer-classifier", description="demo: best AUC")
    lw.set_alias("cancer-classifier", "champion", version.version)
    console.print(
        f"registered cancer-classifier version {version.version} from run {best_run}, alias champion"
    )

    console.rule("[bold]3. load and predict")
    for prefer_onnx in (False, True):
        champion = lw.load_model("models:/cancer-classifier@champion", prefer_onnx=prefer_onnx)
        accuracy = accuracy_score(test["target"], champion.predict(test[features]))
        path = "ONNX" if champion.uses_onnx else champion.flavor
        console.print(
            f"models:/cancer-classifier@champion (v{champion.version}, {path}): accuracy {accuracy:.3f}"
        )

    console.rule("[bold]4. a cached pipeline")
    for attempt in ("first run", "same again", "C changed"):
        C = 0.1 if attempt == "C changed" else 0.5
        started = time.perf_counter()
        result = cancer.run(C=C)
        seconds = time.perf_counter() - started
        console.print(
            f"{attempt}: run [bold]{result.run_id}[/] in {seconds:.2f} s, auc {result.output['auc']:.4f}; "
            f"executed {result.executed or 'nothing'}, cached {result.cache_hits or 'nothing'}"
        )
    console.print(
        "[green]demo finished[/] — try `loopwright runs list --experiment demo-cancer`, "
        "`loopwright models show cancer-classifier` and `loopwright pipeline show RUN_ID`"
    )
