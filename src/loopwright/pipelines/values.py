"""How a step's value is stored and loaded: bytes through a materialiser, or a model package.

Data goes through :mod:`~loopwright.pipelines.materializers` (user-registered first, then
pandas/polars/numpy/JSON). A value no materialiser takes but a model flavor recognises
(scikit-learn, XGBoost, LightGBM, ONNX, torch, Keras, pyfunc) becomes a model package with
:func:`loopwright.log_model` in the step's tracking run, so ``runs:/STEP_RUN/outputs/<node>`` is
a package ``lw.register_model`` accepts. Its digest is the package manifest's digest; loading goes
through :func:`loopwright.models.load_model_from_manifest` (every file verified) and hands the
next step the native object.

The package gets the signature and input example of the data the model was fitted on: among the
step's inputs, the frame holding every column of the model's ``feature_names_in_`` (the target and
other columns dropped), else a 2-d array of ``n_features_in_`` columns (:func:`training_example`).

Examples
--------
>>> import numpy as np, pandas as pd
>>> from sklearn.linear_model import LinearRegression
>>> df = pd.DataFrame({"x": [1.0, 2.0, np.nan, 4.0, 5.0, 6.0, 7.0], "y": [2.0, 4, 6, 8, 10, 12, 14]})
>>> model = LinearRegression().fit(df[["x"]].fillna(0), df["y"])
>>> training_example(model, {"df": df, "target": "y"})
     x
0  1.0
1  2.0
2  NaN
3  4.0
4  5.0
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from typing import Any

from loopwright.artifacts import BlobStore
from loopwright.errors import InvalidInput
from loopwright.models import load_model_from_manifest, log_model
from loopwright.models.flavors import detect_flavor
from loopwright.pipelines.materializers import get_materializer, materializer_for
from loopwright.tracking.client import Client

MODEL = "model"
EXAMPLE_ROWS = 5
log = logging.getLogger(__name__)


def is_model(value: Any) -> bool:
    """Whether a model flavor can package ``value`` (and no data materialiser claims it)."""
    try:
        materializer_for(value)
    except InvalidInput:
        return detect_flavor(value) is not None
    return False


def log_value_model(
    value: Any, run_id: str, path: str, inputs: Mapping[str, Any] | None = None, client: Client | None = None
) -> str:
    """Package ``value`` as a model at ``path`` in run ``run_id``; return the manifest digest.

    ``inputs`` are the step's arguments by name: the data the model was fitted on gives the package
    its signature and input example. If the model cannot predict on rows with missing values (the
    step dropped or filled them first, say), complete rows are used; failing that, no example.
    """
    data = None if inputs is None else training_data(value, inputs)
    attempts = []
    if data is not None and len(data):
        attempts.append(_rows(data))
        if _missing(attempts[0]).any():
            complete = data[~_missing(data).any(axis=1)]
            if len(complete):
                attempts.append(complete[:EXAMPLE_ROWS])
    for rows in attempts:
        try:
            return log_model(value, path, run_id=run_id, input_example=rows, client=client).manifest_digest
        except InvalidInput as exc:
            log.warning("%s: cannot be signed from its training data (%s)", path, exc)
    return log_model(value, path, run_id=run_id, client=client).manifest_digest


def training_example(model: Any, inputs: Mapping[str, Any]) -> Any | None:
    """A few rows of the data among a step's ``inputs`` that ``model`` was fitted on, or ``None``:
    the first five plus, for each column with missing values, the first row missing it (so the
    inferred signature accepts missing values where training had them)."""
    data = training_data(model, inputs)
    return None if data is None else _rows(data)


def training_data(model: Any, inputs: Mapping[str, Any]) -> Any | None:
    """The data among a step's ``inputs`` that ``model`` was fitted on, or ``None``.

    A pandas or polars frame holding every column of ``model.feature_names_in_`` gives those
    columns as a pandas frame (so the target is left out); without feature names, a 2-d numpy
    array with ``model.n_features_in_`` columns. Arguments are searched in order, and one level
    into lists, tuples and dicts.
    """
    names = getattr(model, "feature_names_in_", None)
    width = getattr(model, "n_features_in_", None)
    for value in _candidates(inputs.values()):
        if names is not None:
            frame = _frame_with(value, [str(n) for n in names])
            if frame is not None:
                return frame
        elif isinstance(width, int) and _is_matrix(value, width):
            return value
    return None


def load_value(digest: str, materializer: str, blobs: BlobStore, client: Client | None = None) -> Any:
    """The value stored under ``digest`` (verified), as the materialiser or the model package gives it
    (a model package from ``client``'s stores, default the environment's)."""
    if materializer == MODEL:
        return load_model_from_manifest(digest, client).native
    return get_materializer(materializer).loads(blobs.get_bytes(digest))


def _candidates(values: Any) -> Iterator[Any]:
    for value in values:
        if isinstance(value, (list, tuple)):
            yield from value
        elif isinstance(value, dict):
            yield from value.values()
        else:
            yield value


def _frame_with(value: Any, columns: list[str]) -> Any | None:
    """``value``'s ``columns`` as a pandas frame, if it is a pandas/polars frame that has them all."""
    module = type(value).__module__.split(".")[0]
    if module not in ("pandas", "polars") or type(value).__name__ != "DataFrame":
        return None
    if not set(columns) <= set(value.columns):
        return None
    return value.select(columns).to_pandas() if module == "polars" else value[columns]


def _is_matrix(value: Any, width: int) -> bool:
    if type(value).__module__ != "numpy":
        return False
    import numpy as np

    return isinstance(value, np.ndarray) and value.ndim == 2 and value.shape[1] == width


def _rows(data: Any) -> Any:
    """The first rows of ``data`` plus the first row missing each column that has missing values."""
    import numpy as np

    missing = _missing(data)
    picked = set(range(min(EXAMPLE_ROWS, len(data))))
    for column in np.flatnonzero(missing.any(axis=0)):
        picked.add(int(np.argmax(missing[:, column])))
    rows = sorted(picked)
    return data.iloc[rows] if hasattr(data, "iloc") else data[rows]


def _missing(data: Any) -> Any:
    """A boolean matrix: where a pandas frame or a numpy matrix has missing values."""
    import numpy as np

    if hasattr(data, "isna"):
        return data.isna().to_numpy()
    return np.isnan(data) if data.dtype.kind == "f" else np.zeros(data.shape, dtype=bool)


__all__ = ["MODEL", "is_model", "load_value", "log_value_model", "training_data", "training_example"]
