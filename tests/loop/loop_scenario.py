"""The loop's test world: churn data (baseline or covariate-shifted), a real retraining pipeline,
a registered champion with its reference profile, and traffic written to the prediction log."""

from __future__ import annotations

import logging
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

import loopwright as lw
from loopwright.serving.inputs import ModelInput
from loopwright.serving.prediction_log import PredictionLog

FEATURES = ["f0", "f1", "f2", "f3"]
TARGET = "churned"
HOUR = 3_600_000
T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z
POLICY = {
    "metric_thresholds": {"roc_auc": {"min": 0.7}},
    "versus_champion": {"roc_auc": {"min_delta": -0.02}},
}


def sample(n: int, seed: int, shifted: bool = False) -> pd.DataFrame:
    """Inputs, labelled from a fixed logistic truth; ``shifted`` squeezes f0 and f1 (covariate
    drift the monitor sees, while P(churn | x) stays the same)."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, len(FEATURES))), columns=FEATURES)
    if shifted:
        X["f0"] = rng.normal(0.0, 0.3, n)
        X["f1"] = rng.normal(1.5, 0.3, n)
    p = 1 / (1 + np.exp(-(3.0 * X.f0 + 2.0 * X.f1 - 1.0 * X.f2).to_numpy()))
    X[TARGET] = (rng.random(n) < p).astype(int)
    return X


def write(path: Path, frame: pd.DataFrame) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(path)
    return str(path)


@lw.step
def load(data: str) -> pd.DataFrame:
    return pd.read_parquet(data)


@lw.step
def train(frame: pd.DataFrame, C: float = 1.0, noise: bool = False) -> LogisticRegression:
    """``noise=True`` trains on shuffled labels: a model the gate must stop."""
    y = frame[TARGET].to_numpy()
    if noise:
        y = np.random.default_rng(0).permutation(y)
    return LogisticRegression(C=C).fit(frame[FEATURES], y)


@lw.pipeline
def churn_training(data: str, C: float = 1.0, noise: bool = False) -> Any:
    return train(load(data), C, noise)


@lw.step
def train_logged(frame: pd.DataFrame) -> LogisticRegression:
    """Logs before it fits: a test's barrier can stop (and kill) the controller mid-pipeline."""
    logging.getLogger(__name__).info("fitting the model")
    return LogisticRegression().fit(frame[FEATURES], frame[TARGET])


@lw.pipeline
def churn_logged(data: str) -> Any:
    return train_logged(load(data))


def register_champion(frame: pd.DataFrame, name: str = "churn") -> int:
    """Version 1, alias champion, with its reference profile (what monitoring compares with)."""
    model = LogisticRegression().fit(frame[FEATURES], frame[TARGET])
    with lw.start_run(name=f"train-{name}"):
        info = lw.log_model(model, "model", input_example=frame[FEATURES].head(3))
    version = lw.register_model(info.uri, name).version
    lw.set_alias(name, "champion", version)
    lw.profile(frame[FEATURES], model=f"models:/{name}/{version}")
    return version


def config(tmp_path: Path, **overrides: Any) -> dict[str, Any]:
    holdout = tmp_path / "holdout.parquet"
    if not holdout.exists():
        write(holdout, sample(1500, seed=99, shifted=True))
    base = {
        "model": "churn",
        "pipeline": churn_training,
        "params": {"data": write(tmp_path / "train.parquet", sample(3000, seed=7, shifted=True))},
        "reference_step": "load",
        "policy": POLICY,
        "holdout": str(holdout),
        "target": TARGET,
    }
    return {**base, **overrides}


def log_traffic(frame: pd.DataFrame, ts_ms: int, version: int, name: str = "churn") -> list[str]:
    """Write ``frame`` as 100-row requests of ``version`` into the prediction log at ``ts_ms``."""
    model = lw.load_model(f"models:/{name}/{version}")
    log = PredictionLog(lw.get_client)
    ids = []
    X = frame[FEATURES]
    for k, start in enumerate(range(0, len(X), 100)):
        part = X.iloc[start : start + 100].reset_index(drop=True)
        rid = uuid.uuid4().hex
        data = ModelInput(part, len(part), tuple(FEATURES))
        log.record(name, rid, ts_ms + k, model, name, version, 1.0, data, model.predict(part))
        ids.append(rid)
    log.close()
    return ids
