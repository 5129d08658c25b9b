"""Steps and pipelines the pipeline tests run (a module, so pool and Ray workers see the same code)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split

import loopwright as lw
from loopwright import pipeline, step


# -- the churn example of the issue, on a real dataset (digits: even vs odd) --------------------
@step
def load(path: str) -> pd.DataFrame:
    return pd.read_csv(path)


@step
def split(df: pd.DataFrame, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    train, test = train_test_split(df, train_size=120, random_state=seed, stratify=df["target"])
    return train, test


@step(retries=2, cache=True, resources={"num_cpus": 1})
def train(df: pd.DataFrame, C: float = 1.0) -> LogisticRegression:
    features = df.drop(columns="target").to_numpy() / 16.0
    return LogisticRegression(C=C, max_iter=2000).fit(features, df["target"])


@step
def evaluate(model: LogisticRegression, df: pd.DataFrame) -> dict:
    proba = model.predict_proba(df.drop(columns="target").to_numpy() / 16.0)[:, 1]
    auc = float(roc_auc_score(df["target"], proba))
    lw.log_metric("auc", auc)
    return {"auc": auc}


@pipeline
def churn(path: str, C: float = 1.0):
    df = load(path)
    train_df, test_df = split(df)
    model = train(train_df, C=C)
    return evaluate(model, test_df)


def write_digits_csv(path: Path) -> Path:
    digits = load_digits(as_frame=True)
    frame = digits.frame.copy()
    frame["target"] = (frame["target"] % 2 == 0).astype(int)
    frame.to_csv(path, index=False)
    return path


# -- small arithmetic DAGs -----------------------------------------------------------------------
@step
def inc(x: int) -> int:
    return x + 1


@step
def add(a: int, b: int) -> int:
    return a + b


@step(cache=False)
def now_ns() -> int:
    return time.time_ns()


@pipeline
def chain(x: int = 0, n: int = 3):
    for _ in range(n):
        x = inc(x)
    return x


@pipeline
def diamond(a: int = 1, b: int = 10):
    left = inc(a)
    right = inc(b)
    return add(inc(left), right)


@pipeline
def uncached(x: int = 0):
    return add(inc(x), now_ns())


# -- parallel branches: each sleeps and logs a metric from its worker ------------------------------
@step
def nap(seconds: float, tag: str) -> str:
    time.sleep(seconds)
    lw.log_metric("slept", seconds)
    return f"{tag}:{os.getpid()}"


@step
def join(a: str, b: str) -> list:
    return [a, b]


@pipeline
def branches(seconds: float = 0.8):
    return join(nap(seconds, "left"), nap(seconds, "right"))


# -- failures: a step that fails while a flag file exists, one that fails its first attempts -------
@step
def first(x: int) -> int:
    return x * 2


@step
def fragile(x: int, flag: str) -> int:
    if os.path.exists(flag):
        raise RuntimeError(f"flag {os.path.basename(flag)} is up")
    return x + 1


@step
def last(x: int) -> int:
    return x * 10


@step
def side(x: int) -> int:
    return x - 1


@pipeline
def breakable(x: int, flag: str):
    a = first(x)
    b = fragile(a, flag)
    return last(b), side(a)


@step(retries=3, retry_delay=0.01, backoff=2.0)
def flaky(counter: str, fail_times: int) -> int:
    path = Path(counter)
    seen = int(path.read_text()) if path.exists() else 0
    path.write_text(str(seen + 1))
    if seen < fail_times:
        raise ConnectionError(f"transient failure {seen + 1}")
    return seen + 1


@pipeline
def retrying(counter: str, fail_times: int = 2):
    return flaky(counter, fail_times)


class Opaque:
    """A type no materialiser knows."""


@step
def make_opaque() -> Opaque:
    return Opaque()


@pipeline
def opaque():
    make_opaque()


# -- arrays and frames in, arrays out -------------------------------------------------------------
@step
def column_sums(frame: pd.DataFrame) -> np.ndarray:
    return frame.to_numpy().sum(axis=0)


@pipeline
def sums(frame: pd.DataFrame):
    return column_sums(frame)
