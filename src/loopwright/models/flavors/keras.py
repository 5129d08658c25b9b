"""Keras 3 models in the ``.keras`` format, loaded with ``safe_mode=True`` (no lambda deserialisation).

The backend the model was saved under is recorded; a fresh process that has not imported Keras yet
uses it unless ``KERAS_BACKEND`` says otherwise. Custom layers must be registered with
``keras.saving.register_keras_serializable`` in an importable module, as Keras requires.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

from loopwright.errors import IntegrityError
from loopwright.models.flavors.base import Flavor, Predictor, mro_modules, package_file

FILE = "model.keras"
BACKENDS = frozenset({"tensorflow", "jax", "torch", "numpy", "openvino"})


class KerasFlavor(Flavor):
    name = "keras"
    libraries = ("keras", "numpy")

    def detect(self, model: Any) -> bool:
        return "keras" in mro_modules(model) and hasattr(model, "predict") and hasattr(model, "save")

    def save(self, model: Any, folder: Path) -> dict[str, Any]:
        import keras

        model.save(folder / FILE)
        return {"file": FILE, "backend": keras.backend.backend()}

    def load(self, folder: Path, options: dict[str, Any], *, allow_pickle: bool = False) -> Any:
        backend = options.get("backend")
        if backend is not None and backend not in BACKENDS:  # it becomes a process-wide variable
            raise IntegrityError(
                f"keras flavor_options.backend must be one of {sorted(BACKENDS)}, got {backend!r}"
            )
        if "keras" not in sys.modules and backend:
            os.environ.setdefault("KERAS_BACKEND", str(backend))
        import keras

        return keras.saving.load_model(
            package_file(folder, options.get("file", FILE)), compile=False, safe_mode=True
        )

    def wrap(self, native: Any, options: dict[str, Any]) -> Predictor:
        return KerasPredictor(native)


class KerasPredictor(Predictor):
    def __init__(self, native: Any):
        self.native = native
        self._dtype = np.dtype(getattr(native, "dtype", None) or "float32")

    def predict(self, data: Any) -> Any:
        if hasattr(data, "to_numpy"):
            data = data.to_numpy()
        return self.native.predict_on_batch(np.asarray(data, dtype=self._dtype))
