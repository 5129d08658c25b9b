"""The model manifest: one JSON document that describes a package and pins every file by digest.

Layout of a package logged at ``artifact_path="model"`` (run artifact names)::

    model/manifest.json          this document
    model/<flavor files>         e.g. model.skops, model.json, weights.safetensors
    model/onnx/model.onnx        the ONNX companion, when converted

Manifest fields: ``format``, ``flavor``, ``flavor_options`` (what the flavor needs to load),
``loopwright_version``, ``python_version``, ``library_versions``, ``requirements``,
``signature``, ``input_example``, ``metadata``, ``allow_pickle`` (true only when loading needs
pickle), ``onnx`` (``null`` or path, parity and input details), ``run_id``, ``artifact_path``,
``created_ms`` and ``files`` (``path``, ``sha256``, ``size`` of every file, relative to the
package root). The manifest's own digest is what run artifacts and registry versions record.

Examples
--------
>>> import numpy as np
>>> encoded = encode_example(np.array([[1.0, float("nan")]]))
>>> encoded["type"], encoded["data"]
('ndarray', [[1.0, None]])
>>> decode_example(encoded)
array([[ 1., nan]])
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from loopwright.artifacts import check_digest
from loopwright.errors import IntegrityError, InvalidInput
from loopwright.names import validate_artifact_path

FORMAT = "loopwright.model/1"
MANIFEST_NAME = "manifest.json"


@dataclass(frozen=True)
class FileEntry:
    """One file of a package: its path inside the package, SHA-256 digest and size."""

    path: str
    sha256: str
    size: int

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "sha256": self.sha256, "size": self.size}


def manifest_bytes(manifest: Mapping[str, Any]) -> bytes:
    """Canonical JSON bytes of a manifest (sorted keys, no NaN)."""
    try:
        return json.dumps(manifest, sort_keys=True, indent=2, allow_nan=False).encode()
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"the model manifest is not JSON serialisable (check metadata): {exc}") from None


def parse_manifest(data: bytes, where: str) -> dict[str, Any]:
    """Parse and check the structure of manifest bytes already verified against their digest."""
    try:
        manifest = json.loads(data)
    except ValueError as exc:
        raise IntegrityError(f"{where} is not valid JSON: {exc}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise IntegrityError(f"{where} is not a Loopwright model manifest (format {FORMAT!r})")
    files = manifest.get("files")
    if not isinstance(files, list) or (not files and manifest.get("flavor") != "pyfunc"):
        raise IntegrityError(f"{where} lists no files")  # only a pyfunc can be all code and config
    for entry in files:
        try:
            validate_artifact_path(entry["path"])
            check_digest(entry["sha256"])
            int(entry["size"])
        except (KeyError, TypeError, InvalidInput) as exc:
            raise IntegrityError(f"{where} has a malformed file entry {entry!r}: {exc}") from None
    return manifest


def file_entries(manifest: Mapping[str, Any]) -> list[FileEntry]:
    return [FileEntry(f["path"], f["sha256"], int(f["size"])) for f in manifest["files"]]


# -- input examples ----------------------------------------------------------------------------
def encode_example(example: Any) -> dict[str, Any] | None:
    """The input example as plain JSON (DataFrame with dtypes, ndarray with dtype and shape)."""
    if example is None:
        return None
    if isinstance(example, list) and example and isinstance(example[0], Mapping):
        example = pd.DataFrame.from_records(example)
    if isinstance(example, pd.DataFrame):
        categories = {
            str(name): [_plain(v) for v in dtype.categories]
            for name, dtype in example.dtypes.items()
            if isinstance(dtype, pd.CategoricalDtype)
        }
        return {
            "type": "dataframe",
            "columns": [str(c) for c in example.columns],
            "dtypes": {str(c): str(example[c].dtype) for c in example.columns},
            "categories": categories,
            "data": [
                list(row) for row in zip(*(_json_values(example[c]) for c in example.columns), strict=True)
            ],
        }
    if isinstance(example, np.ndarray) or _is_array_like(example):
        array = np.asarray(example)
        values = array.astype(object)
        if array.dtype.kind in "fc":
            values[np.isnan(array)] = None
        return {
            "type": "ndarray",
            "dtype": array.dtype.name,
            "shape": list(array.shape),
            "data": values.tolist(),
        }
    try:
        json.dumps(example, allow_nan=False)
    except (TypeError, ValueError):
        raise InvalidInput(
            f"cannot store an input example of type {type(example).__name__}: "
            "use a DataFrame, a numpy array, a list of records or plain JSON"
        ) from None
    return {"type": "json", "data": example}


def _json_values(column: pd.Series) -> list[Any]:
    """Exact JSON values of a column (floats via repr, so they round-trip bit for bit)."""
    missing = column.isna().to_numpy()
    if pd.api.types.is_datetime64_any_dtype(column.dtype):
        values = [v.isoformat() for v in column]
    else:
        values = [_plain(v) for v in column.astype(object)]
    return [None if gone else value for value, gone in zip(values, missing, strict=True)]


def _is_array_like(value: Any) -> bool:
    return hasattr(value, "__array__") and not isinstance(value, (str, bytes))


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def decode_example(encoded: Mapping[str, Any] | None) -> Any:
    """Rebuild the example :func:`encode_example` stored."""
    if encoded is None:
        return None
    kind = encoded.get("type")
    if kind == "ndarray":
        dtype = np.dtype(encoded["dtype"])
        data = encoded["data"]
        if dtype.kind in "fc":
            return np.array(_none_to_nan(data), dtype=dtype).reshape(encoded["shape"])
        return np.array(data, dtype=dtype).reshape(encoded["shape"])
    if kind == "dataframe":
        frame = pd.DataFrame(encoded["data"], columns=encoded["columns"])
        for name, dtype in encoded["dtypes"].items():
            frame[name] = _restore_column(frame[name], dtype, encoded.get("categories", {}).get(name))
        return frame
    return encoded.get("data")


def _none_to_nan(data: Any) -> Any:
    if isinstance(data, list):
        return [_none_to_nan(v) for v in data]
    return math.nan if data is None else data


def _restore_column(column: pd.Series, dtype: str, categories: list[Any] | None) -> pd.Series:
    if dtype == "category":
        return pd.Series(pd.Categorical(column, categories=categories), index=column.index, name=column.name)
    if dtype.startswith("datetime64"):
        return pd.to_datetime(column)
    typed: Any = column  # a dtype name from the manifest: pandas resolves it
    try:
        return typed.astype(dtype)
    except (TypeError, ValueError):
        return column
