"""Shared by both sides of bench/evaluate.py: the same generated frame and the same fitted model."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

ROWS = 200_000
FEATURES = [f"f{i}" for i in range(10)]


def frame(rows: int = ROWS, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    data = pd.DataFrame(rng.normal(size=(rows, len(FEATURES))), columns=FEATURES)
    logit = data[FEATURES[:4]].to_numpy() @ np.array([1.0, -0.8, 0.5, 0.3])
    data["region"] = rng.choice([f"r{i}" for i in range(8)], rows)
    data["y"] = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(np.int64)
    return data


def model(data: pd.DataFrame) -> LogisticRegression:
    train = data.iloc[:20_000]
    return LogisticRegression(max_iter=1000).fit(train[FEATURES], train["y"])
