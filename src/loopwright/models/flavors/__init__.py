"""Flavors: one module per model family; detection goes through :data:`FLAVORS` in order."""

from __future__ import annotations

from typing import Any

from loopwright.errors import InvalidInput
from loopwright.models.flavors.base import Flavor, MethodPredictor, Predictor, UnsupportedModel
from loopwright.models.flavors.keras import KerasFlavor
from loopwright.models.flavors.lightgbm import LightGBMFlavor
from loopwright.models.flavors.onnx import OnnxFlavor
from loopwright.models.flavors.pickle import PickleFlavor
from loopwright.models.flavors.pyfunc import PyfuncContext, PyfuncFlavor, PythonModel
from loopwright.models.flavors.sklearn import SklearnFlavor
from loopwright.models.flavors.torch import TorchFlavor
from loopwright.models.flavors.xgboost import XGBoostFlavor

# boosters before sklearn (their sklearn wrappers are BaseEstimators); keras before torch (a Keras
# model on the torch backend is an nn.Module); pyfunc last (anything with load + predict)
FLAVORS: tuple[Flavor, ...] = (
    XGBoostFlavor(),
    LightGBMFlavor(),
    SklearnFlavor(),
    OnnxFlavor(),
    KerasFlavor(),
    TorchFlavor(),
    PyfuncFlavor(),
    PickleFlavor(),
)
_BY_NAME = {f.name: f for f in FLAVORS}


def get_flavor(name: str) -> Flavor:
    """The flavor called ``name``."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise InvalidInput(f"unknown flavor {name!r}: use one of {sorted(_BY_NAME)}") from None


def detect_flavor(model: Any) -> Flavor | None:
    """The first flavor that recognises ``model``, or ``None``."""
    return next((f for f in FLAVORS if f.detect(model)), None)


__all__ = [
    "FLAVORS",
    "Flavor",
    "MethodPredictor",
    "Predictor",
    "PyfuncContext",
    "PythonModel",
    "UnsupportedModel",
    "detect_flavor",
    "get_flavor",
]
