"""Importable model classes for the flavor tests (a fresh process imports them by path)."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import torch

from loopwright.models import PyfuncContext, PythonModel


class TinyNet(torch.nn.Module):
    """A two-layer MLP whose constructor arguments are recorded for the torch flavor."""

    def __init__(self, n_in: int = 4, hidden: int = 8):
        super().__init__()
        self.init_kwargs = {"n_in": n_in, "hidden": hidden}
        self.layers = torch.nn.Sequential(
            torch.nn.Linear(n_in, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, 2)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class ThresholdModel(PythonModel):
    """A pyfunc: reads its weights from a JSON file it ships with, scores rows against a threshold."""

    def __init__(self, weights_path: str | None = None, threshold: float = 0.0):
        self.artifacts = {"weights": weights_path} if weights_path else {}
        self.config = {"threshold": threshold}

    def load(self, context: PyfuncContext) -> None:
        self.weights = np.array(json.loads(context.artifacts["weights"].read_text()))
        self.threshold = context.config["threshold"]

    def predict(self, data: Any) -> np.ndarray:
        scores = np.asarray(data, dtype=float) @ self.weights
        return (scores > self.threshold).astype("int64")


class ScaleModel(PythonModel):
    """A pyfunc that is all code and config: no files of its own."""

    def __init__(self, factor: float = 2.0):
        self.config = {"factor": factor}

    def load(self, context: PyfuncContext) -> None:
        self.factor = context.config["factor"]

    def predict(self, data: Any) -> np.ndarray:
        return np.asarray(data, dtype=float).sum(axis=1) * self.factor


class Opaque:
    """No flavor saves this; only pickle can."""

    def __init__(self, offset: float = 1.5):
        self.offset = offset

    def predict(self, data: Any) -> np.ndarray:
        return np.asarray(data, dtype=float).sum(axis=1) + self.offset


def signed_log(x: np.ndarray) -> np.ndarray:
    """A user function inside a scikit-learn pipeline: skops cannot vouch for it."""
    return np.sign(x) * np.log1p(np.abs(x))
