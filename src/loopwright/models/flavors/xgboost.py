"""XGBoost boosters and scikit-learn-API models, saved in XGBoost's native JSON format."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from loopwright.errors import IntegrityError
from loopwright.models.flavors.base import Flavor, MethodPredictor, Predictor, mro_modules, package_file

FILE = "model.json"
# the classes a package may name; never an arbitrary import path
CLASSES = ("Booster", "XGBClassifier", "XGBRegressor", "XGBRanker", "XGBRFClassifier", "XGBRFRegressor")


class XGBoostFlavor(Flavor):
    name = "xgboost"
    libraries = ("xgboost", "numpy")

    def detect(self, model: Any) -> bool:
        return "xgboost" in mro_modules(model) and type(model).__name__ in CLASSES

    def save(self, model: Any, folder: Path) -> dict[str, Any]:
        model.save_model(folder / FILE)
        return {"file": FILE, "class": type(model).__name__}

    def load(self, folder: Path, options: dict[str, Any], *, allow_pickle: bool = False) -> Any:
        import xgboost

        name = options.get("class")
        if name not in CLASSES:
            raise IntegrityError(f"xgboost package names an unknown class {name!r}")
        model = getattr(xgboost, str(name))()
        model.load_model(package_file(folder, options.get("file", FILE)))
        return model

    def wrap(self, native: Any, options: dict[str, Any]) -> Predictor:
        if options.get("class") == "Booster":
            return BoosterPredictor(native)
        return MethodPredictor(native)


class BoosterPredictor(Predictor):
    """A bare booster: ``inplace_predict`` takes numpy arrays and DataFrames without a DMatrix copy."""

    def __init__(self, native: Any):
        self.native = native
        self.predict = native.inplace_predict  # type: ignore[method-assign]
