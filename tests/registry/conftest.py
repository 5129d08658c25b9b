"""Helpers for registry tests: a run holding a model package laid out as ``lw.log_model`` does."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import pytest

import loopwright as lw

PackageRun = Callable[..., str]


def make_package_run(
    name: str = "train",
    params: dict[str, object] | None = None,
    metrics: dict[str, float] | None = None,
    allow_pickle: bool = False,
    weights: str = "weights-v1",
) -> str:
    """A finished run with ``model/manifest.json`` and ``model/weights.bin``; returns its id."""
    with lw.start_run(name=name) as run:
        lw.log_params(params or {"C": 1.0, "penalty": "l2"})
        lw.log_metrics(metrics or {"auc": 0.91})
        lw.log_dataset(pd.DataFrame({"x": [1, 2, 3], "y": [0, 1, 0]}), name="train", context="train")
        lw.log_text(weights, "model/weights.bin")
        lw.log_dict(
            {"flavor": "sklearn", "allow_pickle": allow_pickle, "files": {"weights.bin": "…"}},
            "model/manifest.json",
        )
        lw.log_text("not part of the model", "notes.txt")
    return run.id


@pytest.fixture
def package_run(lw_env: object) -> PackageRun:
    """Factory for runs with a model package, on the ``lw_env`` store (SQLite and PostgreSQL)."""
    return make_package_run
