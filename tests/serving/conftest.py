"""Real models, logged and registered, served by the real server on 127.0.0.1 with a free port."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.linear_model import LogisticRegression

import loopwright as lw
from loopwright.serving import ServerHandle, run_in_thread

FEATURES = [f"f{i}" for i in range(5)]


def training_data(n: int = 400, seed: int = 0) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, len(FEATURES))), columns=FEATURES)
    y = ((X.f0 + 0.5 * X.f1 - 0.25 * X.f2) > 0).astype(int)
    return X, y


def register(model: Any, name: str, example: pd.DataFrame, alias: str | None = None) -> int:
    """Log ``model`` in a run and register it as the next version of ``name``."""
    with lw.start_run(name=f"train-{name}"):
        info = lw.log_model(model, "model", input_example=example)
    version = lw.register_model(info.uri, name).version
    if alias is not None:
        lw.set_alias(name, alias, version)
    return version


@dataclass
class Registered:
    """Versions of the ``churn`` classifier family registered in a fresh store."""

    X: pd.DataFrame
    y: pd.Series
    gbc: GradientBoostingClassifier  # version 1, alias champion
    logreg: LogisticRegression  # version 2, alias challenger


@pytest.fixture
def registered(sqlite_env: Path) -> Registered:
    X, y = training_data()
    gbc = GradientBoostingClassifier(n_estimators=20, random_state=0).fit(X, y)
    logreg = LogisticRegression().fit(X, y)
    register(gbc, "churn", X.head(5), alias="champion")
    register(logreg, "churn", X.head(5), alias="challenger")
    return Registered(X, y, gbc, logreg)


@pytest.fixture
def serve() -> Iterator[Callable[..., ServerHandle]]:
    """Start servers with ``serve(target, **options)``; all are stopped at the end of the test."""
    handles: list[ServerHandle] = []

    def start(target: Any, **options: Any) -> ServerHandle:
        handle = run_in_thread(target, **options)
        handles.append(handle)
        return handle

    yield start
    for handle in handles:
        handle.stop()


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=30) as client:
        yield client


def records(X: pd.DataFrame) -> list[dict[str, float]]:
    return X.to_dict("records")  # type: ignore[return-value]
