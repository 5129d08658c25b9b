"""ONNX models, run by onnxruntime; also the runner of a scikit-learn package's ONNX companion.

The predictor builds the session once and caches the input names and element types, so a call is
one dtype check and ``session.run``. A single-input model takes the whole array; a model with one
input per column (what skl2onnx makes from a DataFrame) takes a frame and feeds each column.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from loopwright.config import get_settings
from loopwright.errors import InvalidInput
from loopwright.models.flavors.base import Flavor, Predictor, mro_modules, package_file

FILE = "model.onnx"
_TYPES: dict[str, np.dtype[Any]] = {
    "tensor(float)": np.dtype(np.float32),
    "tensor(double)": np.dtype(np.float64),
    "tensor(int64)": np.dtype(np.int64),
    "tensor(int32)": np.dtype(np.int32),
    "tensor(bool)": np.dtype(np.bool_),
    "tensor(string)": np.dtype(object),
}


class OnnxFlavor(Flavor):
    name = "onnx"
    libraries = ("onnx", "onnxruntime", "numpy")

    def detect(self, model: Any) -> bool:
        return "onnx" in mro_modules(model) and type(model).__name__ == "ModelProto"

    def save(self, model: Any, folder: Path) -> dict[str, Any]:
        (folder / FILE).write_bytes(model.SerializeToString())
        return {"file": FILE}

    def load(self, folder: Path, options: dict[str, Any], *, allow_pickle: bool = False) -> Any:
        return session(package_file(folder, options.get("file", FILE)))

    def wrap(self, native: Any, options: dict[str, Any]) -> Predictor:
        if type(native).__name__ == "ModelProto":  # a live proto at log time
            native = session(native.SerializeToString())
        return OnnxPredictor.from_section(native, options)


def session(model: Path | bytes) -> Any:
    """An onnxruntime CPU session for a model file or its bytes."""
    import onnxruntime

    source = str(model) if isinstance(model, Path) else model
    options = onnxruntime.SessionOptions()
    # One intra-op thread by default: a serving process batches requests itself, and onnxruntime's
    # spinning thread pool otherwise fights the event loop for the cores (p99 spikes on 2 cores).
    options.intra_op_num_threads = get_settings().onnx_threads
    return onnxruntime.InferenceSession(source, sess_options=options, providers=["CPUExecutionProvider"])


class OnnxPredictor(Predictor):
    @classmethod
    def from_section(cls, native: Any, section: dict[str, Any]) -> OnnxPredictor:
        """A predictor configured by a manifest's ``onnx`` section (or the onnx flavor's options)."""
        return cls(
            native,
            section.get("label_output"),
            section.get("proba_output"),
            bool(section.get("ravel", False)),
            section.get("columns"),
        )

    def __init__(
        self,
        native: Any,
        label_output: str | None = None,
        proba_output: str | None = None,
        ravel: bool = False,
        columns: list[str] | None = None,
    ):
        self.native = native
        inputs = native.get_inputs()
        outputs = [o.name for o in native.get_outputs()]
        # (input name, frame column, element type); skl2onnx renames columns that are not identifiers
        names = columns if columns and len(columns) == len(inputs) else [i.name for i in inputs]
        self._inputs = [
            (i.name, column, _TYPES.get(i.type, np.dtype(np.float32)))
            for i, column in zip(inputs, names, strict=True)
        ]
        self._label = [label_output or outputs[0]]
        self._proba = [proba_output] if proba_output else [o for o in outputs if "prob" in o.lower()][:1]
        self._ravel = ravel
        self._run = native.run
        # a single tensor input fed from a frame takes these columns, in this order
        self._tensor_columns = columns if len(inputs) == 1 and columns and len(columns) > 1 else None

    @property
    def has_proba(self) -> bool:
        return bool(self._proba)

    def _feed(self, data: Any) -> dict[str, Any]:
        if len(self._inputs) == 1:
            name, _, dtype = self._inputs[0]
            if self._tensor_columns is not None and isinstance(data, pd.DataFrame):
                data = data[self._tensor_columns]
            if hasattr(data, "to_numpy"):
                data = data.to_numpy()
            array = data if isinstance(data, np.ndarray) else np.asarray(data)
            if array.dtype != dtype:
                array = array.astype(dtype)
            return {name: array}
        return {name: _column(data, column, dtype) for name, column, dtype in self._inputs}

    def predict(self, data: Any) -> Any:
        out = self._run(self._label, self._feed(data))[0]
        return out.ravel() if self._ravel and out.ndim == 2 else out

    def predict_proba(self, data: Any) -> Any:
        if not self._proba:
            raise InvalidInput("this ONNX model has no probability output")
        return self._run(self._proba, self._feed(data))[0]


def _column(data: Any, name: str, dtype: np.dtype[Any]) -> np.ndarray:
    try:
        values = data[name]
    except (KeyError, IndexError, TypeError):
        raise InvalidInput(f"the ONNX model needs a column {name!r}; pass a DataFrame") from None
    if dtype.kind == "O":
        array = np.asarray(values, dtype=object)
        if not all(isinstance(v, str) for v in array):
            array = np.array([None if v is None else str(v) for v in array], dtype=object)
    else:
        array = (
            values.to_numpy(dtype=dtype) if hasattr(values, "to_numpy") else np.asarray(values, dtype=dtype)
        )
    return array.reshape(-1, 1)
