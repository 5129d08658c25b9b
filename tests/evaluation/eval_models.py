"""Data and models for the evaluation tests: a churn-like frame, registered versions, a slow pyfunc."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd

import loopwright as lw

FEATURES = ["tenure", "spend", "noise"]


def churn_frame(n: int = 1500, seed: int = 0, islands: bool = True) -> pd.DataFrame:
    """Churn depends on tenure and spend; ``region`` has a tiny slice ``islands`` where nobody churns."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "tenure": rng.gamma(2.0, 10.0, n),
            "spend": rng.normal(50.0, 10.0, n),
            "noise": rng.normal(size=n),
            "region": rng.choice(["north", "south", "east"], n, p=[0.45, 0.35, 0.2]),
        }
    )
    logit = 0.12 * (20 - frame["tenure"]) + 0.08 * (frame["spend"] - 50)
    frame["churned"] = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(np.int64)
    if islands:
        frame.loc[frame.index[:12], ["region", "churned"]] = ["islands", 0]
    return frame


def register(model: Any, name: str, example: pd.DataFrame, alias: str | None = None) -> lw.ModelVersion:
    """Log ``model`` in a run, register it as the next version of ``name``, optionally alias it."""
    with lw.start_run() as run:
        lw.log_model(model, "model", input_example=example.head(5))
    version = lw.register_model(f"runs:/{run.id}/model", name)
    if alias is not None:
        lw.set_alias(name, alias, version.version)
    return version


class SlowRegressor(lw.PythonModel):
    """Predicts ``2 * x`` after sleeping ``delay`` seconds per call: a candidate that is clearly slower."""

    config = {"delay": 0.02}

    def load(self, context: Any) -> None:
        self.delay = float(context.config["delay"])

    def predict(self, data: pd.DataFrame) -> np.ndarray:
        time.sleep(self.delay)
        return 2.0 * data["x"].to_numpy(dtype=np.float64)
