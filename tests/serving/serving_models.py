"""Importable pyfunc models for the serving tests (the loader imports them by path)."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd

from loopwright.models import PyfuncContext, PythonModel

POISON = 1000.0  # a row with f0 above this makes Fragile raise


class Fragile(PythonModel):
    """Sums each row; raises on a poison row, like a model hitting a bug on odd input."""

    def __init__(self, limits_path: str | None = None) -> None:
        self.artifacts = {"limits": limits_path} if limits_path else {}

    def load(self, context: PyfuncContext) -> None:
        self.poison = float(json.loads(context.artifacts["limits"].read_text())["poison"])

    def predict(self, data: Any) -> np.ndarray:
        values = data.to_numpy() if isinstance(data, pd.DataFrame) else np.asarray(data, dtype=float)
        if (values[:, 0] > self.poison).any():
            raise RuntimeError("secret internal detail: poison row")
        return values.sum(axis=1)


class Echo(PythonModel):
    """Answers each row's first column as the model received it (shows what validation let through)."""

    def predict(self, data: Any) -> np.ndarray:
        return data.iloc[:, 0].to_numpy() if isinstance(data, pd.DataFrame) else np.asarray(data)[:, 0]


class ColumnSum(PythonModel):
    """Reads its columns by name, as a pyfunc written against ``lw.load_model(...).predict(df)`` does."""

    def predict(self, data: pd.DataFrame) -> np.ndarray:
        return (data["a"] + data["b"]).to_numpy()


class TwoOutputs(PythonModel):
    """Several named outputs: a number and a string per row."""

    def predict(self, data: pd.DataFrame) -> dict[str, np.ndarray]:
        total = (data["a"] + data["b"]).to_numpy()
        return {"total": total, "label": np.where(total > 0, "up", "down")}


class PlanPrice(PythonModel):
    """A model with a string column: the price of ``seats`` on ``plan``."""

    PRICES = {"basic": 10.0, "pro": 25.0}

    def predict(self, data: pd.DataFrame) -> np.ndarray:
        return (data["plan"].map(self.PRICES) * data["seats"]).to_numpy()
