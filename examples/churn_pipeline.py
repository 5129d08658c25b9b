"""The churn retraining pipeline the loop runs (``loop.yaml`` names it): load → train.

Copy this folder and point ``params.data`` in ``loop.yaml`` at your own labelled Parquet file
(relative paths are read from this folder). ``python churn_pipeline.py`` writes a synthetic data
set to try it on: ``data/churn-baseline.parquet`` (the world the first model learned),
``data/churn-train.parquet`` and ``data/churn-holdout.parquet`` (the world after a price change).

Examples
--------
>>> frame = churn_sample(1000, seed=0)
>>> list(frame.columns)
['tenure_months', 'monthly_charges', 'support_calls', 'data_usage_gb', 'churned']
>>> bool(churn_sample(1000, seed=0, shifted=True)["monthly_charges"].mean() > frame["monthly_charges"].mean())
True
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

import loopwright as lw

HERE = Path(__file__).resolve().parent
FEATURES = ["tenure_months", "monthly_charges", "support_calls", "data_usage_gb"]
TARGET = "churned"


def churn_sample(n: int, seed: int, shifted: bool = False) -> pd.DataFrame:
    """``n`` customers labelled from one fixed logistic truth. ``shifted``: after a price change
    charges are higher and tenures bunch up (covariate drift a monitor sees), while P(churn | x)
    stays the same, so a model retrained on the new world is as good as before on it."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, len(FEATURES)))
    if shifted:
        z[:, 0] = rng.normal(0.0, 0.3, n)
        z[:, 1] = rng.normal(1.5, 0.3, n)
    frame = pd.DataFrame(
        {
            "tenure_months": 24 + 10 * z[:, 0],
            "monthly_charges": 70 + 20 * z[:, 1],
            "support_calls": 2 + z[:, 2],
            "data_usage_gb": 30 + 10 * z[:, 3],
        }
    )
    p_churn = 1 / (1 + np.exp(-(-3.0 * z[:, 0] + 2.0 * z[:, 1] + 1.0 * z[:, 2])))
    frame[TARGET] = (rng.random(n) < p_churn).astype(int)
    return frame


@lw.step
def load(data: str) -> pd.DataFrame:
    """The labelled training frame (a relative path is read from this folder)."""
    path = Path(data)
    return pd.read_parquet(path if path.is_absolute() else HERE / path)


@lw.step
def train(frame: pd.DataFrame, shuffle_labels: bool = False) -> Pipeline:
    """Scaler + logistic regression. ``shuffle_labels=True`` learns from shuffled labels: the
    deliberately worse candidate the demo's second round sends to the gate."""
    y = frame[TARGET].to_numpy()
    if shuffle_labels:
        y = np.random.default_rng(0).permutation(y)
    return make_pipeline(StandardScaler(), LogisticRegression()).fit(frame[FEATURES], y)


@lw.pipeline
def churn_training(data: str, shuffle_labels: bool = False) -> Pipeline:
    """load → train; the loop registers the model ``train`` returns and profiles ``load``'s frame."""
    return train(load(data), shuffle_labels)


def write_data(folder: Path = HERE / "data") -> dict[str, Path]:
    """Write the synthetic data sets ``loop.yaml`` reads; returns their paths by name."""
    folder.mkdir(parents=True, exist_ok=True)
    frames = {
        "baseline": churn_sample(3000, seed=1),
        "train": churn_sample(3000, seed=7, shifted=True),
        "holdout": churn_sample(1500, seed=99, shifted=True),
    }
    paths = {name: folder / f"churn-{name}.parquet" for name in frames}
    for name, frame in frames.items():
        frame.to_parquet(paths[name])
    return paths


if __name__ == "__main__":
    for name, path in write_data().items():
        print(f"{name}: {path}")
