"""Wine pipelines for the signature tests: models a step fits on a frame (or an array) it was given."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.datasets import load_wine
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from loopwright import pipeline, step

FEATURES = list(load_wine().feature_names)


@step
def load(drop: str = "") -> pd.DataFrame:
    frame = load_wine(as_frame=True).frame.rename(columns={"target": "cultivar"})
    return frame.drop(columns=drop) if drop else frame


@step
def split(df: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    train_df, test_df = train_test_split(df, test_size=0.3, random_state=0, stratify=df["cultivar"])
    return train_df, test_df


@step
def train(df: pd.DataFrame, target: str = "cultivar", C: float = 1.0) -> Pipeline:
    model = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=1000))
    return model.fit(df.drop(columns=target), df[target])


@pipeline
def wine(C: float = 1.0, drop: str = "") -> Any:
    train_df, _ = split(load(drop))
    return train(train_df, C=C)


@step
def arrays() -> tuple[np.ndarray, np.ndarray]:
    data = load_wine()
    return data.data.astype(np.float32), data.target


@step
def train_on_array(X: np.ndarray, y: np.ndarray) -> LogisticRegression:
    return LogisticRegression(max_iter=5000).fit(X, y)


@pipeline
def wine_arrays() -> Any:
    X, y = arrays()
    return train_on_array(X, y)


@step
def train_on_derived(df: pd.DataFrame) -> LogisticRegression:
    # fitted on a frame the step builds itself: nothing among its inputs matches
    return LogisticRegression(max_iter=5000).fit(df.drop(columns="cultivar").to_numpy() / 10, df["cultivar"])


@pipeline
def wine_derived() -> Any:
    return train_on_derived(load())
