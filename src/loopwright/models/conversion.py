"""ONNX conversion of scikit-learn models (skl2onnx), accepted only when it predicts like the original.

The conversion runs on the input example with onnxruntime and compares with scikit-learn:
predicted labels must be equal, and probabilities / regression outputs within ``1e-4`` (plus a
relative ``1e-4`` for regression, since ONNX tree ensembles compute in float32). The largest
absolute difference is reported in the manifest's ``onnx`` section.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from loopwright.errors import InvalidInput
from loopwright.models.flavors.onnx import OnnxPredictor, session
from loopwright.models.signature import column_kind

ONNX_PATH = "onnx/model.onnx"
TOLERANCE = 1e-4


def sklearn_to_onnx(model: Any, example: Any) -> tuple[bytes, dict[str, Any]]:
    """Convert a fitted scikit-learn model; return the ONNX bytes and the manifest's ``onnx`` section.

    Raises :class:`InvalidInput` when skl2onnx does not support the model or when parity fails.
    """
    if example is None:
        raise InvalidInput("ONNX conversion needs an input_example, to fix the input types and check parity")
    try:
        import skl2onnx
        from skl2onnx.common.data_types import FloatTensorType, StringTensorType
    except ImportError:
        raise InvalidInput("ONNX conversion needs skl2onnx: pip install 'loopwright[onnx]'") from None
    from sklearn.base import is_classifier

    name = type(model).__name__
    # Each attempt is (input layout, initial types). An all-numeric frame first tries one float
    # tensor (what plain estimators need); a ColumnTransformer routing by column name needs one
    # input per column, so that layout is tried next.
    attempts: list[tuple[str, list[tuple[str, Any]]]] = []
    if isinstance(example, pd.DataFrame):
        per_column: list[tuple[str, Any]] = []
        for column in example.columns:
            kind = column_kind(example[column])
            if kind in ("int", "float", "bool"):
                per_column.append((str(column), FloatTensorType([None, 1])))
            elif kind in ("string", "category"):
                per_column.append((str(column), StringTensorType([None, 1])))
            else:
                raise InvalidInput(f"cannot convert {name} to ONNX: column {column!r} holds {kind} values")
        if all(isinstance(t, FloatTensorType) for _, t in per_column):
            attempts.append(("tensor", [("input", FloatTensorType([None, len(per_column)]))]))
        attempts.append(("columns", per_column))
    else:
        array = np.asarray(example)
        if array.ndim != 2 or array.dtype.kind not in "fiub":
            raise InvalidInput(
                f"cannot convert {name} to ONNX: the input example must be a 2-D numeric array"
            )
        attempts.append(("tensor", [("input", FloatTensorType([None, array.shape[1]]))]))
    final = model.steps[-1][1] if hasattr(model, "steps") else model
    classifier = is_classifier(final)
    options = {id(final): {"zipmap": False}} if classifier else None
    reason = ""
    for attempt in attempts:
        try:
            proto = skl2onnx.to_onnx(model, initial_types=attempt[1], options=options)
            inputs = attempt[0]
            break
        except Exception as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    else:
        raise InvalidInput(f"cannot convert {name} to ONNX: skl2onnx does not support it ({reason})")
    data = proto.SerializeToString()
    expected = np.asarray(model.predict(example))
    outputs = [o.name for o in session(data).get_outputs()]
    section: dict[str, Any] = {
        "path": ONNX_PATH,
        "inputs": inputs,
        "label_output": outputs[0],
        "proba_output": next((o for o in outputs if "prob" in o.lower()), None) if classifier else None,
        "ravel": expected.ndim == 1,
        # the frame columns, in input (or tensor column) order
        "columns": [str(c) for c in example.columns] if isinstance(example, pd.DataFrame) else None,
        "opset": max((op.version for op in proto.opset_import), default=None),
        "converter": f"skl2onnx {skl2onnx.__version__}",
    }
    predictor = OnnxPredictor.from_section(session(data), section)
    got = np.asarray(predictor.predict(example))
    if classifier:
        if got.shape != expected.shape or not np.array_equal(got.astype(expected.dtype), expected):
            raise InvalidInput(
                f"ONNX conversion of {name} refused: predicted labels differ from scikit-learn on the input example"
            )
        diff = _max_abs_diff(predictor.predict_proba(example), model.predict_proba(example))
        limit = TOLERANCE
    else:
        diff = _max_abs_diff(got, expected)
        limit = TOLERANCE * max(1.0, float(np.max(np.abs(expected))) if expected.size else 1.0)
    if not diff <= limit:
        raise InvalidInput(
            f"ONNX conversion of {name} refused: predictions differ from scikit-learn on the input example "
            f"(max abs diff {diff:.3g} > tolerance {limit:.3g})"
        )
    section["max_abs_diff"] = diff
    return data, section


def _max_abs_diff(got: Any, expected: Any) -> float:
    a = np.asarray(got, dtype=np.float64)
    b = np.asarray(expected, dtype=np.float64)
    if a.shape != b.shape:
        if a.size != b.size:
            return float("inf")
        a = a.reshape(b.shape)
    return float(np.max(np.abs(a - b))) if a.size else 0.0
