"""LightGBM boosters and scikit-learn-API models, saved in LightGBM's native text format.

The text format holds the booster only; a classifier's labels are kept in the manifest options so
``predict`` returns the original labels and ``predict_proba`` the class probabilities.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from loopwright.models.flavors.base import Flavor, Predictor, mro_modules, package_file

FILE = "model.txt"


class LightGBMFlavor(Flavor):
    name = "lightgbm"
    libraries = ("lightgbm", "numpy")

    def detect(self, model: Any) -> bool:
        return "lightgbm" in mro_modules(model) and hasattr(model, "predict")

    def save(self, model: Any, folder: Path) -> dict[str, Any]:
        booster = model if type(model).__name__ == "Booster" else model.booster_
        booster.save_model(str(folder / FILE))
        classes = getattr(model, "classes_", None)
        return {
            "file": FILE,
            "class": type(model).__name__,
            "classes": None if classes is None else np.asarray(classes).tolist(),
        }

    def load(self, folder: Path, options: dict[str, Any], *, allow_pickle: bool = False) -> Any:
        import lightgbm

        return lightgbm.Booster(model_file=str(package_file(folder, options.get("file", FILE))))

    def wrap(self, native: Any, options: dict[str, Any]) -> Predictor:
        classes = options.get("classes")
        return BoosterPredictor(native, None if classes is None else np.asarray(classes))


class BoosterPredictor(Predictor):
    def __init__(self, native: Any, classes: np.ndarray | None):
        self.native = native
        self._classes = classes

    @property
    def has_proba(self) -> bool:
        return self._classes is not None

    @property
    def classes(self) -> Any:
        return self._classes

    def predict_proba(self, data: Any) -> Any:
        raw = np.asarray(self.native.predict(data))
        return np.column_stack([1.0 - raw, raw]) if raw.ndim == 1 else raw

    def predict(self, data: Any) -> Any:
        if self._classes is None:
            return self.native.predict(data)
        return self._classes.take(np.argmax(self.predict_proba(data), axis=1))
