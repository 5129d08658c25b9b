"""Request payloads → validated model input, compiled once per model signature.

The hot path decodes JSON rows straight into one numpy array when every signature column is
numeric (no per-request DataFrame); other signatures get a typed DataFrame. Every violation is an
:class:`~loopwright.errors.InvalidInput` that names the field and the type it expects.

Examples
--------
>>> from types import SimpleNamespace as NS
>>> sig = NS(kind="dataframe", inputs=[NS(name="a", dtype="float64", categories=None, allow_nan=False),
...                                    NS(name="b", dtype="int64", categories=None, allow_nan=False)])
>>> schema = InputSchema(sig)
>>> schema.from_records([{"a": 1.5, "b": 2}, {"a": 0, "b": 3}]).data
array([[1.5, 2. ],
       [0. , 3. ]])
>>> schema.from_records([{"a": "x", "b": 2}])
Traceback (most recent call last):
...
loopwright.errors.InvalidInput: field 'a' expects float64, got string 'x' (row 0)
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import chain
from typing import Any, NoReturn

import numpy as np
import pandas as pd

from loopwright.errors import InvalidInput
from loopwright.models.signature import EXACT_FLOAT_INTEGERS, field_mismatch, integer_range, integer_refusal
from loopwright.serving.types import SignatureLike

FLOATS = frozenset({"float64", "float32", "float16"})
INTS = frozenset({"int64", "int32", "int16", "int8", "uint64", "uint32", "uint16", "uint8"})
NUMERIC = FLOATS | INTS | {"bool"}
_JSON_NAMES = {str: "string", bool: "boolean", int: "integer", float: "number", type(None): "null"}


@dataclass(frozen=True)
class ModelInput:
    """One request's validated input: what goes to ``predict`` plus what the prediction log keeps."""

    data: Any  # np.ndarray | pd.DataFrame | list
    rows: int
    columns: tuple[str, ...] | None = None  # feature names, in the order of ``data``'s columns


def describe_value(value: Any) -> str:
    """A JSON value as an error message shows it: its JSON type, and short scalars themselves."""
    kind = _JSON_NAMES.get(type(value), type(value).__name__)
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."
        return f"{kind} {shown}"
    return kind


class InputSchema:
    """Decoder and validator for one model signature (``None``: accept records or arrays as given).

    Parameters
    ----------
    signature:
        The model's input signature: ``kind`` ``"dataframe"`` with ``inputs`` a list of columns
        (``name``, ``dtype``, ``categories``, ``allow_nan``), or ``kind`` ``"tensor"`` with one
        ``TensorSpec(dtype, shape)``. Numeric dataframe signatures decode to one 2-D array in
        column order; others to a DataFrame coerced by ``signature.validate``.
    frame_only:
        Always build a DataFrame (the model was fitted on columns in another order).
    """

    def __init__(self, signature: SignatureLike | None, frame_only: bool = False):
        self.signature = signature
        self.kind: str | None = signature.kind if signature is not None else None
        self.columns: list[Any] = []
        self.names: tuple[str, ...] = ()
        self.tensor: Any = None
        self.numeric = False
        self.array_dtype: np.dtype[Any] = np.dtype(np.float64)
        self._fast_types: frozenset[type] = frozenset()
        self._whole: list[int] = []  # int columns of a float array: whole numbers within range
        # (and within ±2**53: beyond it a float stands for no exact integer)
        self._whole_min = self._whole_max = np.zeros(0)
        if self.kind == "dataframe":
            self.columns = list(signature.inputs)  # type: ignore[union-attr]
            self.names = tuple(c.name for c in self.columns)
            dtypes = {c.dtype for c in self.columns}
            self.numeric = bool(dtypes) and dtypes <= NUMERIC and not frame_only
            if self.numeric:
                self.array_dtype = np.dtype(dtypes.pop() if len(dtypes) == 1 else "float64")
                # values that need no per-column check: numbers into float columns, ints into int
                # ones; a float array mixing int columns checks those are whole numbers, one mixing
                # bool columns (where 1 is not True) checks every column
                if self.array_dtype.kind == "f" and "bool" in {c.dtype for c in self.columns}:
                    self._fast_types = frozenset()
                elif self.array_dtype.kind == "f":
                    self._fast_types = frozenset({float, int})
                    self._whole = [j for j, c in enumerate(self.columns) if c.dtype in INTS]
                    limits = [integer_range(self.columns[j].dtype) for j in self._whole]
                    self._whole_min = np.array([float(max(low, -EXACT_FLOAT_INTEGERS)) for low, _ in limits])
                    self._whole_max = np.array([float(min(high, EXACT_FLOAT_INTEGERS)) for _, high in limits])
                elif self.array_dtype.kind in "iu":
                    self._fast_types = frozenset({int})
                else:
                    self._fast_types = frozenset({bool})
        elif self.kind == "tensor":
            spec = signature.inputs  # type: ignore[union-attr]
            self.tensor = spec[0] if isinstance(spec, list | tuple) else spec
            self.array_dtype = np.dtype(_numpy_dtype(self.tensor.dtype))
        elif self.kind is not None:
            raise InvalidInput(f"unsupported signature kind {self.kind!r}")

        self.key = self._key()

    def _key(self) -> tuple[Any, ...]:
        """Equal keys decode equally (lets a shadow model reuse the primary's decoded input)."""
        if self.kind == "dataframe":
            return (
                "dataframe",
                tuple((c.name, c.dtype, tuple(c.categories or ()), bool(c.allow_nan)) for c in self.columns),
            )
        if self.kind == "tensor":
            return ("tensor", str(self.tensor.dtype), tuple(self.tensor.shape))
        return ("any",)

    # -- payload shapes ------------------------------------------------------------------------
    def from_records(self, records: Any) -> ModelInput:
        """A list of records (``{"col": value}``) or of rows in signature order."""
        if not isinstance(records, list):
            raise InvalidInput(f"instances must be a list of records, got {describe_value(records)}")
        if not records:
            raise InvalidInput("instances is empty: send at least one row")
        if self.kind == "tensor":
            return self._tensor(records)
        first = records[0]
        if self.kind is None:
            if isinstance(first, Mapping):
                if not all(isinstance(rec, Mapping) for rec in records):
                    raise InvalidInput("instances must all be objects of column values, or all be rows")
                return ModelInput(pd.DataFrame.from_records(records), len(records), None)
            return ModelInput(_unchecked_array(records), len(records), None)
        if isinstance(first, Mapping):
            if self.numeric:
                try:
                    rows = [[rec[n] for n in self.names] for rec in records]
                except (KeyError, TypeError):
                    self._missing(records)
                width = len(self.names)
                if any(len(rec) != width for rec in records):  # every name is there: more is unknown
                    self._columns_of(records)
                return self._matrix(rows)
            return self._frame(self._columns_of(records))
        if isinstance(first, list):
            return self.from_rows(records)
        raise InvalidInput(f"each instance must be an object of column values, got {describe_value(first)}")

    def from_rows(self, rows: Any) -> ModelInput:
        """Rows as lists of values in signature column order."""
        if not isinstance(rows, list) or not rows:
            raise InvalidInput("data must be a non-empty list of rows")
        if self.kind == "tensor":
            return self._tensor(rows)
        if self.kind is None:
            return ModelInput(_unchecked_array(rows), len(rows), None)
        if self.numeric:
            return self._matrix(rows)
        self._check_widths(rows)
        return self._frame({name: [r[j] for r in rows] for j, name in enumerate(self.names)})

    def from_split(self, payload: Any) -> ModelInput:
        """MLflow/pandas ``split`` orientation: ``{"columns": [...], "data": [[...], ...]}``."""
        if not isinstance(payload, Mapping) or "data" not in payload:
            raise InvalidInput('dataframe_split must be an object with "columns" and "data"')
        columns, data = payload.get("columns"), payload["data"]
        if not isinstance(data, list) or not data:
            raise InvalidInput("dataframe_split.data must be a non-empty list of rows")
        if columns is not None and (
            not isinstance(columns, list) or not all(isinstance(c, str) for c in columns)
        ):
            raise InvalidInput(
                f"dataframe_split.columns must be a list of column names, got {describe_value(columns)}"
            )
        if columns is not None and len(set(columns)) != len(columns):
            raise InvalidInput(f"dataframe_split.columns names a column twice: {columns}")
        if columns is None or self.kind != "dataframe" or columns == list(self.names):
            if self.kind is None and columns is not None:
                self._check_widths(data, width=len(columns), names=columns)
                return ModelInput(pd.DataFrame(data, columns=columns), len(data), tuple(columns))
            return self.from_rows(data)
        position = {c: j for j, c in enumerate(columns)}
        self._check_fields(columns, "in dataframe_split.columns")
        self._check_widths(data, width=len(columns))
        order = [position[n] for n in self.names]
        return self.from_rows([[row[j] for j in order] for row in data])

    def from_columns(self, columns: Any) -> ModelInput:
        """Column orientation: ``{"col": [v0, v1, ...], ...}`` (MLflow ``inputs``)."""
        if not isinstance(columns, Mapping) or not columns:
            raise InvalidInput("inputs must be an object mapping column names to lists of values")
        if self.kind == "tensor":
            raise InvalidInput("this model takes one tensor: send inputs as a (nested) list")
        values = {k: (v if isinstance(v, list) else [v]) for k, v in columns.items()}
        lengths = {len(v) for v in values.values()}
        if len(lengths) != 1:
            raise InvalidInput("every column in inputs must have the same number of values")
        if self.kind is None:
            frame = pd.DataFrame(values)
            return ModelInput(frame, len(frame), tuple(frame.columns))
        self._check_fields(values, "in inputs")
        return self._frame({n: values[n] for n in self.names})

    def from_tensor(self, data: Any, shape: Sequence[int] | None = None) -> ModelInput:
        """One flat or nested list with an optional shape (Open Inference Protocol tensors)."""
        if self.kind == "dataframe":
            arr = self._raw_array(data, shape, "input")
            if arr.ndim != 2 or arr.shape[1] != len(self.names):
                raise InvalidInput(
                    f"expected one input per column {list(self.names)} or a matrix of shape "
                    f"[-1, {len(self.names)}], got shape {list(arr.shape)}"
                )
            return self.from_rows(arr.tolist()) if not self.numeric else self._matrix(arr)
        arr = self._raw_array(data, shape, "input")
        if self.kind is None:
            return ModelInput(arr, int(arr.shape[0]) if arr.ndim else 1, None)
        return self._tensor(arr)

    # -- builders ------------------------------------------------------------------------------
    def _matrix(self, rows: Any) -> ModelInput:
        """Numeric rows → one 2-D array; any doubt falls back to the per-column check."""
        if isinstance(rows, np.ndarray):
            # numbers into float columns, or the exact dtype; anything else is checked per value
            target = self.array_dtype.kind
            if self._fast_types and (
                rows.dtype == self.array_dtype or (rows.dtype.kind in "fiu" and target == "f")
            ):
                arr = rows.astype(self.array_dtype, copy=False)
                if self._fits(arr):
                    return ModelInput(arr, len(arr), self.names)
            rows = rows.tolist()
        try:
            if set(map(type, chain.from_iterable(rows))) <= self._fast_types:
                arr = np.array(rows, dtype=self.array_dtype)
                if arr.ndim == 2 and arr.shape[1] == len(self.names) and self._fits(arr):
                    return ModelInput(arr, len(arr), self.names)
        except (TypeError, ValueError, OverflowError):
            pass
        self._check_widths(rows)
        checked = self._checked_columns({n: [r[j] for r in rows] for j, n in enumerate(self.names)})
        arr = np.column_stack([np.asarray(v, dtype=self.array_dtype) for v in checked.values()])
        return ModelInput(arr, len(arr), self.names)

    def _fits(self, arr: np.ndarray) -> bool:
        """A float array is finite and its int columns hold whole numbers in their range (else the
        checked path names the culprit, or lets NaN through where the signature allows it)."""
        if arr.dtype.kind == "f" and not np.isfinite(arr).all():
            return False
        if not self._whole:
            return True
        ints = arr[:, self._whole]
        return bool(
            np.all(np.mod(ints, 1) == 0)
            and np.all(ints >= self._whole_min)
            and np.all(ints <= self._whole_max)
        )

    def _frame(self, columns: Mapping[str, list[Any]]) -> ModelInput:
        if self.numeric:
            checked = self._checked_columns(columns)
            arr = np.column_stack([np.asarray(v, dtype=self.array_dtype) for v in checked.values()])
            return ModelInput(arr, len(arr), self.names)
        frame = self.signature.validate(pd.DataFrame({n: columns[n] for n in self.names}))  # type: ignore[union-attr]
        return ModelInput(frame, len(frame), self.names)

    def _tensor(self, data: Any) -> ModelInput:
        spec = self.tensor
        arr = self._raw_array(data, None, "instances")
        expected = list(spec.shape)
        if arr.ndim != len(expected) or any(
            e not in (-1, None) and e != a for e, a in zip(expected, arr.shape, strict=False)
        ):
            raise InvalidInput(f"tensor input expects shape {expected}, got {list(arr.shape)}")
        if arr.dtype.kind not in "fiub" and self.array_dtype.kind in "fiub":
            raise InvalidInput(f"tensor input expects {spec.dtype} values, got {arr.dtype.name}")
        # the signature's own checks: whole numbers in range for int tensors, finite floats
        return ModelInput(self.signature.validate(arr), int(arr.shape[0]), None)  # type: ignore[union-attr]

    def _raw_array(self, data: Any, shape: Sequence[int] | None, what: str) -> np.ndarray:
        try:
            arr = np.asarray(data)
        except (TypeError, ValueError, OverflowError) as error:
            raise InvalidInput(f"{what} is not a rectangular array: {error}") from None
        if shape is not None:
            if any(type(s) is not int or s < 0 for s in shape) or math.prod(shape) != arr.size:
                raise InvalidInput(f"{what} has {arr.size} values, which do not fill the shape {list(shape)}")
            arr = arr.reshape(shape)
        if arr.dtype.kind == "O":
            raise InvalidInput(f"{what} holds mixed or null values; expected {self.array_dtype.name}")
        if arr.dtype.kind in "US" and self.array_dtype.kind in "fiub":
            raise InvalidInput(f"{what} expects {self.array_dtype.name} values, got strings")
        return arr

    # -- per-column validation (the slow path that names the culprit) ---------------------------
    def _checked_columns(self, columns: Mapping[str, list[Any]]) -> dict[str, Any]:
        return {c.name: _check_column(c, columns[c.name]) for c in self.columns}

    def _columns_of(self, records: list[Any]) -> dict[str, list[Any]]:
        for i, rec in enumerate(records):
            if not isinstance(rec, Mapping):
                raise InvalidInput(
                    f"instance {i} must be an object of column values, got {describe_value(rec)}"
                )
            if len(rec) != len(self.names) or any(name not in rec for name in self.names):
                self._check_fields(rec, f"in instance {i}")
        return {n: [rec[n] for rec in records] for n in self.names}

    def _check_fields(self, given: Iterable[Any], where: str) -> None:
        """Refuse a wrong feature set, naming every missing and unknown field at once."""
        mismatch = field_mismatch(self.columns, [str(g) for g in given], noun="field")
        if mismatch:
            raise InvalidInput(f"{where.removeprefix('in ')}: {mismatch}")

    def _missing(self, records: list[Any]) -> None:
        self._columns_of(records)
        raise InvalidInput("instances must be objects of column values")  # pragma: no cover

    def _check_widths(
        self, rows: Sequence[Any], width: int | None = None, names: Sequence[str] | None = None
    ) -> None:
        expected = len(self.names) if width is None else width
        for i, row in enumerate(rows):
            if not isinstance(row, list | tuple | np.ndarray) or len(row) != expected:
                got = len(row) if isinstance(row, list | tuple) else describe_value(row)
                shown = list(self.names if names is None else names)
                raise InvalidInput(f"row {i} must have {expected} values {shown}, got {got}")


def _unchecked_array(rows: list[Any]) -> np.ndarray:
    """Rows for a model without a signature: any rectangular array numpy can build."""
    try:
        return np.asarray(rows)
    except (TypeError, ValueError, OverflowError) as error:
        raise InvalidInput(f"the rows do not form a rectangular array: {error}") from None


def _numpy_dtype(dtype: str) -> str:
    return "object" if dtype in ("string", "category", "datetime", "str") else dtype


def _check_column(column: Any, values: list[Any]) -> np.ndarray:
    """Validate one numeric column's JSON values against its spec; name the first culprit."""
    name, dtype, allow_nan = column.name, str(column.dtype), bool(column.allow_nan)

    def fail(i: int, value: Any, expected: str | None = None) -> NoReturn:
        raise InvalidInput(
            f"field {name!r} expects {expected or dtype}, got {describe_value(value)} (row {i})"
        )

    if dtype in FLOATS:
        largest = float(np.finfo(dtype).max)  # beyond it the cast would give ±Inf
        out = []
        for i, v in enumerate(values):
            if (type(v) is float or type(v) is int) and -largest <= v <= largest:
                out.append(v)
            elif v is None and allow_nan:
                out.append(np.nan)
            elif type(v) is float and allow_nan and not math.isfinite(v):  # NaN/Inf, e.g. binary tensors
                out.append(v)
            elif type(v) is float and not math.isfinite(v):
                fail(i, v, f"finite {dtype} values (the signature does not allow NaN/Inf)")
            elif type(v) is float or type(v) is int:
                fail(i, v, f"{dtype} within ±{largest:.6g}")
            else:
                fail(i, v)
        return np.array(out, dtype=dtype)
    if dtype in INTS:
        for i, v in enumerate(values):
            if not (type(v) is int or (type(v) is float and v.is_integer())):
                fail(i, v)
            refusal = integer_refusal(v, dtype)
            if refusal is not None:
                raise InvalidInput(f"field {name!r}: {refusal} (row {i})")
        return np.array(values, dtype=dtype)
    if dtype == "bool":
        for i, v in enumerate(values):
            if type(v) is not bool:
                fail(i, v)
        return np.array(values, dtype=bool)
    raise InvalidInput(f"field {name!r} has an unsupported dtype {dtype!r}")


def encode_output(output: Any) -> Any:
    """A model output slice → something ``orjson`` serialises (numpy numbers stay zero-copy)."""
    if isinstance(output, np.ndarray):
        if output.dtype.kind in "fiub" and output.flags.c_contiguous:
            return output
        return output.tolist()
    if isinstance(output, pd.DataFrame):
        return output.to_dict("records")
    if isinstance(output, pd.Series):
        return output.tolist()
    return output
