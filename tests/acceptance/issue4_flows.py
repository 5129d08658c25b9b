"""The pipeline of issue 4's snippet, as a user would write it, plus a breakable one and a bad one.

The CLI tests copy this file into a scratch folder as ``churn_pipeline.py`` and run
``loopwright pipeline run churn_pipeline:churn`` from there, as a user would.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

import loopwright as lw
from loopwright import pipeline, step

FEATURES = ["tenure", "spend", "calls"]


@step
def load(path: str) -> pd.DataFrame:
    return pd.read_csv(path)


@step(retries=2, cache=True, resources={"num_cpus": 1})
def train(df: pd.DataFrame, C: float = 1.0) -> LogisticRegression:
    return LogisticRegression(C=C, max_iter=1000).fit(df[FEATURES], df["churned"])


@step
def evaluate(model: LogisticRegression, df: pd.DataFrame) -> dict:
    auc = float(roc_auc_score(df["churned"], model.predict_proba(df[FEATURES])[:, 1]))
    lw.log_metric("auc", auc)
    return {"auc": auc}


@pipeline
def churn(path: str, C: float = 1.0):
    df = load(path)
    model = train(df, C=C)
    evaluate(model, df)


def write_data(path: Path, rows: int = 300) -> Path:
    """A churn table with signal in every feature and label noise (so C matters a little)."""
    rng = np.random.default_rng(4)
    frame = pd.DataFrame(rng.normal(size=(rows, len(FEATURES))), columns=FEATURES)
    logit = 1.5 * frame["tenure"] - frame["spend"] + 0.5 * frame["calls"] + rng.normal(scale=1.5, size=rows)
    frame["churned"] = (logit > 0).astype(int)
    frame.to_csv(path, index=False)
    return path


# -- failure and resume ----------------------------------------------------------------------------
@step
def first(x: int) -> int:
    return x + 1


@step(retries=2, retry_delay=0.01)
def fragile(a: int, flag: str) -> int:
    if Path(flag).read_text() == "up":
        raise RuntimeError("the flag is up")
    return a * 10


@step
def last(b: int) -> int:
    return b + 1


@pipeline
def breakable(x: int, flag: str):
    return last(fragile(first(x), flag))


# -- an output no materialiser takes ---------------------------------------------------------------
class Opaque:
    """Neither data nor a model: a step may not return it until a materialiser is registered."""


@step
def opaque(x: int) -> Opaque:
    return Opaque()


@pipeline
def unstorable(x: int = 1):
    return opaque(x)


# -- independent steps (run in parallel, in worker processes) that read a relative path ------------
@step
def count_rows(path: str) -> int:
    return len(pd.read_csv(path))


@step
def count_columns(path: str) -> int:
    return len(pd.read_csv(path).columns)


@pipeline
def shape(path: str):
    return count_rows(path), count_columns(path)


@pipeline
def measure(path: Path):
    return count_rows(path)


@step
def label(tags: list[str] | None) -> str:
    return ",".join(tags or [])


@pipeline
def tagged(tags: list[str] | None = None):
    return label(tags)


@pipeline
def churn_from_frame(df: pd.DataFrame, C: float = 1.0):
    model = train(df, C=C)
    evaluate(model, df)
