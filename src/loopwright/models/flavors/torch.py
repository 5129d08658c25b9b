"""PyTorch ``nn.Module``: weights as safetensors plus the class's import path and constructor kwargs.

At log time the class is rebuilt from ``module:QualName`` and ``init_kwargs`` (the model's
``init_kwargs`` attribute, a JSON-able dict, or nothing) and the weights are loaded into it
strictly, so a package that could not be rebuilt elsewhere is refused before it is stored.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from loopwright.errors import InvalidInput
from loopwright.models.flavors.base import (
    Flavor,
    Predictor,
    UnsupportedModel,
    class_path,
    import_class,
    mro_modules,
    package_file,
)

FILE = "weights.safetensors"


class TorchFlavor(Flavor):
    name = "torch"
    libraries = ("torch", "safetensors", "numpy")

    def detect(self, model: Any) -> bool:
        if "torch" not in mro_modules(model):
            return False
        import torch

        return isinstance(model, torch.nn.Module)

    def save(self, model: Any, folder: Path) -> dict[str, Any]:
        import safetensors.torch

        kwargs = dict(getattr(model, "init_kwargs", None) or {})
        try:
            json.dumps(kwargs, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise InvalidInput(f"{type(model).__name__}.init_kwargs must be JSON-able: {exc}") from None
        options = {"file": FILE, "class": class_path(type(model)), "init_kwargs": kwargs}
        safetensors.torch.save_model(model, str(folder / FILE))
        try:
            self.load(folder, options)
        except Exception as exc:
            raise UnsupportedModel(
                f"cannot rebuild {options['class']}(**{kwargs}) and load its weights ({exc}); "
                "set model.init_kwargs to the constructor arguments"
            ) from None
        return options

    def code(self, options: dict[str, Any]) -> str | None:
        return str(options.get("class", ""))

    def load(self, folder: Path, options: dict[str, Any], *, allow_pickle: bool = False) -> Any:
        import safetensors.torch
        import torch

        cls = import_class(str(options["class"]))
        if not (isinstance(cls, type) and issubclass(cls, torch.nn.Module)):
            raise InvalidInput(f"{options['class']!r} is not a torch.nn.Module class")
        model = cls(**options.get("init_kwargs", {}))
        safetensors.torch.load_model(model, str(package_file(folder, options.get("file", FILE))), strict=True)
        return model.eval()

    def wrap(self, native: Any, options: dict[str, Any]) -> Predictor:
        return TorchPredictor(native)


class TorchPredictor(Predictor):
    def __init__(self, native: Any):
        import torch

        self.native = native.eval()
        self._torch = torch
        first = next(iter(native.parameters()), None)
        self._dtype = (
            np.dtype(str(first.dtype).removeprefix("torch.")) if first is not None else np.dtype("float32")
        )

    def predict(self, data: Any) -> Any:
        if hasattr(data, "to_numpy"):
            data = data.to_numpy()
        array = np.ascontiguousarray(data, dtype=self._dtype)
        with self._torch.inference_mode():
            out = self.native(self._torch.from_numpy(array))
        return _to_numpy(out)


def _to_numpy(out: Any) -> Any:
    if isinstance(out, (tuple, list)):
        return type(out)(_to_numpy(o) for o in out)
    if isinstance(out, dict):
        return {k: _to_numpy(v) for k, v in out.items()}
    return out.detach().cpu().numpy() if hasattr(out, "detach") else out
