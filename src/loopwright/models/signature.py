"""Signatures: what a model accepts and returns, inferred from an example or given, and enforced.

A signature is either a *dataframe* signature (named, typed columns) or a *tensor* signature
(one array of a dtype and shape, ``-1`` for the batch dimension). :meth:`Signature.validate`
checks incoming data and returns it coerced to what the model was trained on; every refusal is
an :class:`~loopwright.errors.InvalidInput` that names the column and what was expected.

Rules
-----
- Integer → float widening is allowed; float → integer only when every value is integral.
- Strings are never turned into numbers (``"3"`` for an ``int64`` column is refused).
- A missing value (NaN/None) is refused unless the column allows it (``allow_nan``, inferred
  from whether the example had one); so is ±Inf (non-finite values count as missing).
- Integers must fit the column's dtype (``2**64`` for ``int64`` is refused, never wrapped); a float
  for an integer column must be whole and within ±2**53, where floats still stand for one integer.
- Categorical columns record their levels. An unseen level is accepted silently by default
  (an input example rarely shows every level, and encoders such as ``OneHotEncoder`` have
  their own ``handle_unknown`` policy); set ``allow_unseen=False`` on the column to refuse it.

Examples
--------
>>> import pandas as pd
>>> sig = infer_signature(pd.DataFrame({"age": [31, 47], "plan": ["basic", "pro"]}))
>>> [(c.name, c.dtype) for c in sig.inputs]
[('age', 'int64'), ('plan', 'string')]
>>> sig.validate([{"plan": "pro", "age": 52}]).columns.tolist()
['age', 'plan']
>>> sig.validate([{"age": "52", "plan": "pro"}])
Traceback (most recent call last):
...
loopwright.errors.InvalidInput: column 'age': expected int64, got string values (e.g. '52')
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from loopwright.errors import InvalidInput

LOGICAL_DTYPES = ("string", "category", "datetime")
_NUMPY_DTYPES = (
    "float16",
    "float32",
    "float64",
    "int8",
    "int16",
    "int32",
    "int64",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "bool",
)


EXACT_FLOAT_INTEGERS = 2**53  # beyond this magnitude a float64 no longer identifies one integer


def integer_range(dtype: str) -> tuple[int, int]:
    """The smallest and largest value of an integer dtype, as exact Python ints.

    >>> integer_range("uint8")
    (0, 255)
    """
    info = np.iinfo(np.dtype(dtype))
    return int(info.min), int(info.max)


def integer_refusal(value: int | float, dtype: str) -> str | None:
    """Why ``value`` (an int or a whole float) cannot be a ``dtype`` integer, or ``None`` if it can.

    Python compares ints and floats exactly, so ``2.0**63`` is out of ``int64`` range here while
    numpy would wrap it to ``-2**63``.

    >>> integer_refusal(2**63, "int64")
    'expected int64 in [-9223372036854775808, 9223372036854775807], got 9223372036854775808'
    >>> integer_refusal(255, "uint8") is None
    True
    """
    low, high = integer_range(dtype)
    expected = f"expected {dtype} in [{low}, {high}], got {value!r}"
    if not low <= value <= high:
        return expected
    if isinstance(value, float) and abs(value) > EXACT_FLOAT_INTEGERS:
        return f"{expected}: a float beyond ±2**53 stands for no exact integer, send an integer"
    return None


def _check_dtype(dtype: str) -> str:
    if dtype not in _NUMPY_DTYPES and dtype not in LOGICAL_DTYPES:
        raise InvalidInput(
            f"unknown signature dtype {dtype!r}: use one of {', '.join(_NUMPY_DTYPES + LOGICAL_DTYPES)}"
        )
    return dtype


@dataclass(frozen=True)
class ColumnSpec:
    """One named column of a dataframe signature.

    Parameters
    ----------
    name:
        Column name.
    dtype:
        A numpy dtype name (``"float64"``, ``"int64"``, ``"bool"`` …) or ``"string"``,
        ``"category"``, ``"datetime"``.
    categories:
        Levels of a ``category`` column (recorded from the example's categorical dtype).
    allow_nan:
        Whether missing values are accepted.
    allow_unseen:
        Whether a ``category`` level outside ``categories`` is accepted (default: yes).

    Examples
    --------
    >>> import loopwright as lw
    >>> col = lw.ColumnSpec("plan", "category", categories=["basic", "pro"])
    >>> col.name, col.dtype, list(col.categories)
    ('plan', 'category', ['basic', 'pro'])
    """

    name: str
    dtype: str
    categories: list[Any] | None = None
    allow_nan: bool = False
    allow_unseen: bool = True

    def __post_init__(self) -> None:
        _check_dtype(self.dtype)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "dtype": self.dtype, "allow_nan": self.allow_nan}
        if self.categories is not None:
            out["categories"] = list(self.categories)
            out["allow_unseen"] = self.allow_unseen
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ColumnSpec:
        return cls(
            name=str(data["name"]),
            dtype=str(data["dtype"]),
            categories=list(data["categories"]) if data.get("categories") is not None else None,
            allow_nan=bool(data.get("allow_nan", False)),
            allow_unseen=bool(data.get("allow_unseen", True)),
        )


@dataclass(frozen=True)
class TensorSpec:
    """One array: a numpy dtype name and a shape with ``-1`` for variable dimensions (the batch).

    Examples
    --------
    >>> import loopwright as lw
    >>> spec = lw.TensorSpec("float32", [-1, 28, 28])  # any number of 28x28 images
    >>> spec.shape, spec.to_dict()["dtype"]
    ((-1, 28, 28), 'float32')
    """

    dtype: str
    shape: tuple[int, ...]
    allow_nan: bool = False

    def __post_init__(self) -> None:
        if _check_dtype(self.dtype) in LOGICAL_DTYPES:
            raise InvalidInput(f"a tensor dtype must be a numpy dtype name, got {self.dtype!r}")
        object.__setattr__(self, "shape", tuple(int(d) for d in self.shape))

    def to_dict(self) -> dict[str, Any]:
        return {"dtype": self.dtype, "shape": list(self.shape), "allow_nan": self.allow_nan}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TensorSpec:
        return cls(str(data["dtype"]), tuple(data["shape"]), bool(data.get("allow_nan", False)))


Schema = list[ColumnSpec] | TensorSpec


@dataclass(frozen=True)
class Signature:
    """Input (and optionally output) schema of a model.

    ``kind`` is ``"dataframe"`` when ``inputs`` is a list of :class:`ColumnSpec`, ``"tensor"``
    when it is a :class:`TensorSpec`.

    Examples
    --------
    >>> import loopwright as lw
    >>> sig = lw.Signature([lw.ColumnSpec("age", "int64"), lw.ColumnSpec("plan", "string")])
    >>> sig.kind, sig.validate([{"plan": "pro", "age": 52}]).columns.tolist()
    ('dataframe', ['age', 'plan'])
    >>> print(lw.Signature(lw.TensorSpec("float32", [-1, 4])).kind)
    tensor
    """

    inputs: Schema
    outputs: Schema | None = None
    kind: Literal["dataframe", "tensor"] = field(init=False)

    def __post_init__(self) -> None:
        if isinstance(self.inputs, TensorSpec):
            object.__setattr__(self, "kind", "tensor")
        elif isinstance(self.inputs, list) and all(isinstance(c, ColumnSpec) for c in self.inputs):
            names = [c.name for c in self.inputs]
            if len(set(names)) != len(names):
                raise InvalidInput(f"signature has duplicate column names: {names}")
            object.__setattr__(self, "kind", "dataframe")
        else:
            raise InvalidInput("signature inputs must be a list of ColumnSpec or a TensorSpec")

    @property
    def columns(self) -> list[str]:
        """Input column names (empty for a tensor signature)."""
        return [c.name for c in self.inputs] if isinstance(self.inputs, list) else []

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "inputs": _schema_to_dict(self.inputs),
            "outputs": None if self.outputs is None else _schema_to_dict(self.outputs),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Signature:
        try:
            outputs = data.get("outputs")
            inputs = _schema_from_dict(data["inputs"])
            return cls(inputs, None if outputs is None else _schema_from_dict(outputs))
        except (KeyError, TypeError, AttributeError) as error:
            raise InvalidInput(
                f"malformed signature {dict(data)!r}: {type(error).__name__}: {error}; "
                "expected the form Signature.to_dict() returns"
            ) from None

    def validate(self, data: Any) -> Any:
        """Check ``data`` against the input schema; return it coerced (DataFrame or ndarray).

        Accepts a DataFrame, a numpy array, a list of records (dicts) or of rows, or a dict of
        columns. Raises :class:`InvalidInput` naming the offending column and the expectation.
        """
        if isinstance(self.inputs, TensorSpec):
            return _validate_tensor(self.inputs, data)
        return _validate_frame(self.inputs, data)


def _schema_to_dict(schema: Schema) -> Any:
    if isinstance(schema, TensorSpec):
        return {"tensor": schema.to_dict()}
    return {"columns": [c.to_dict() for c in schema]}


def _schema_from_dict(data: Mapping[str, Any]) -> Schema:
    if "tensor" in data:
        return TensorSpec.from_dict(data["tensor"])
    return [ColumnSpec.from_dict(c) for c in data["columns"]]


# -- inference ---------------------------------------------------------------------------------
def infer_signature(example: Any, output: Any = None) -> Signature:
    """Infer a signature from an input example (and optionally the model's output on it).

    Parameters
    ----------
    example:
        A pandas DataFrame (column names, dtypes, categorical levels, NaN presence), a numpy
        array (dtype and shape, batch dimension as ``-1``), or a list of records.
    output:
        The model's predictions on ``example``, to record the output schema.

    Returns
    -------
    Signature

    Examples
    --------
    >>> import numpy as np
    >>> sig = infer_signature(np.zeros((5, 3), dtype="float32"), output=np.zeros(5, dtype="int64"))
    >>> sig.kind, sig.inputs.shape, sig.outputs.dtype
    ('tensor', (-1, 3), 'int64')
    """
    return Signature(
        _infer_schema(example, "input example"), None if output is None else _infer_output(output)
    )


def _infer_output(output: Any) -> Schema:
    if isinstance(output, pd.Series):
        output = output.to_numpy()
    return _infer_schema(output, "model output")


def _infer_schema(example: Any, what: str) -> Schema:
    if isinstance(example, list) and example and isinstance(example[0], Mapping):
        example = pd.DataFrame.from_records(example)
    elif isinstance(example, Mapping):
        example = pd.DataFrame(dict(example))
    if isinstance(example, pd.DataFrame):
        return [_infer_column(str(name), example[name]) for name in example.columns]
    array = np.asarray(example)
    if array.dtype.kind in "OUS":
        raise InvalidInput(f"cannot infer a tensor signature from a {what} of {array.dtype} values")
    if array.ndim == 0:
        raise InvalidInput(f"cannot infer a signature from a scalar {what}")
    allow_nan = bool(array.dtype.kind == "f" and np.isnan(array).any())
    return TensorSpec(array.dtype.name, (-1, *array.shape[1:]), allow_nan)


def _infer_column(name: str, column: pd.Series) -> ColumnSpec:
    kind = column_kind(column)
    has_nan = bool(column.isna().any())
    dtype: Any = column.dtype
    if kind == "category":
        levels = [_plain(v) for v in dtype.categories]
        return ColumnSpec(name, "category", categories=levels, allow_nan=has_nan)
    if kind in ("string", "datetime", "bool"):
        return ColumnSpec(name, kind, allow_nan=has_nan)
    if kind in ("int", "float"):
        numpy_name = dtype.numpy_dtype.name if hasattr(dtype, "numpy_dtype") else np.dtype(dtype).name
        if column.dtype == object:
            numpy_name = "int64" if kind == "int" else "float64"
        return ColumnSpec(name, numpy_name, allow_nan=has_nan)
    raise InvalidInput(f"cannot infer a type for column {name!r}: it mixes {kind} values")


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def column_kind(column: pd.Series) -> str:
    """``int``, ``float``, ``bool``, ``string``, ``category``, ``datetime``, or what else it holds."""
    dtype = column.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        return "category"
    if ptypes.is_bool_dtype(dtype):
        return "bool"
    if ptypes.is_datetime64_any_dtype(dtype):
        return "datetime"
    if ptypes.is_integer_dtype(dtype):
        return "int"
    if ptypes.is_float_dtype(dtype):
        return "float"
    if isinstance(dtype, pd.StringDtype):
        return "string"
    inferred = ptypes.infer_dtype(column, skipna=True)
    return {
        "string": "string",
        "integer": "int",
        "floating": "float",
        "mixed-integer-float": "float",
        "boolean": "bool",
        "datetime64": "datetime",
        "datetime": "datetime",
        "empty": "empty",
    }.get(inferred, inferred)


# -- validation --------------------------------------------------------------------------------
def _to_frame(data: Any, columns: list[str]) -> pd.DataFrame:
    if isinstance(data, pd.DataFrame):
        return data
    if isinstance(data, Mapping):
        try:
            return pd.DataFrame({k: np.atleast_1d(v) for k, v in data.items()})
        except ValueError as exc:
            raise InvalidInput(f"cannot read the input columns: {exc}") from None
    if isinstance(data, Sequence) and not isinstance(data, str) and data and isinstance(data[0], Mapping):
        return pd.DataFrame.from_records(list(data))
    array = np.asarray(data, dtype=object) if isinstance(data, list) else np.asarray(data)
    if array.ndim == 1 and len(columns) > 1 and array.shape[0] == len(columns):
        array = array.reshape(1, -1)
    if array.ndim != 2 or array.shape[1] != len(columns):
        raise InvalidInput(
            f"wrong shape: expected rows of {len(columns)} columns {columns}, got an array of shape {array.shape}"
        )
    return pd.DataFrame({name: array[:, i] for i, name in enumerate(columns)}).infer_objects()


#: how many missing (and how many unknown) fields an error names before it says "and N more"
FIELDS_NAMED = 5


def field_mismatch(specs: Sequence[ColumnSpec], given: Sequence[str], noun: str = "column") -> str | None:
    """One message naming every missing and every unknown field (up to :data:`FIELDS_NAMED` of each), or ``None``.

    >>> specs = [ColumnSpec("alcohol", "float64"), ColumnSpec("ash", "float64")]
    >>> field_mismatch(specs, ["alcohol_pct", "ash"])
    "missing column 'alcohol' (float64); unknown column 'alcohol_pct': the signature expects ['alcohol', 'ash']"
    """
    names = [c.name for c in specs]
    known, offered = set(names), set(given)
    missing = [f"{c.name!r} ({c.dtype})" for c in specs if c.name not in offered]
    unknown = [repr(g) for g in given if g not in known]
    parts = [
        _listed(adjective, noun, found)
        for adjective, found in (("missing", missing), ("unknown", unknown))
        if found
    ]
    if not parts:
        return None
    message = "; ".join(parts)
    if unknown:  # a client sending the wrong feature set needs the right one
        message += (
            f": the signature expects {names}" if len(names) <= 20 else f" (the signature has {len(names)})"
        )
    return message


def _listed(adjective: str, noun: str, items: list[str]) -> str:
    if len(items) == 1:
        return f"{adjective} {noun} {items[0]}"
    if len(items) <= FIELDS_NAMED:
        return f"{adjective} {noun}s {', '.join(items)}"
    shown = ", ".join(items[:FIELDS_NAMED])
    return f"{adjective} {len(items)} {noun}s: {shown} and {len(items) - FIELDS_NAMED} more"


def _validate_frame(specs: list[ColumnSpec], data: Any) -> pd.DataFrame:
    names = [c.name for c in specs]
    frame = _to_frame(data, names)
    present = [str(c) for c in frame.columns]
    mismatch = field_mismatch(specs, present)
    if mismatch:
        raise InvalidInput(mismatch)
    if frame.columns.duplicated().any():
        raise InvalidInput(f"duplicate columns in the input: {present}")
    out = {spec.name: _coerce_column(spec, frame[spec.name]) for spec in specs}
    return pd.DataFrame(out, index=frame.index)


def _nan_check(spec_name: str, column: pd.Series, allow_nan: bool) -> None:
    if allow_nan:
        return
    mask = column.isna()
    if mask.any():
        rows = np.flatnonzero(mask.to_numpy())[:5].tolist()
        raise InvalidInput(
            f"column {spec_name!r}: missing value (NaN/None) at row {rows[0] if len(rows) == 1 else rows}, "
            "and the signature does not allow NaN there"
        )
    if column.dtype.kind == "f":
        infinite = np.flatnonzero(np.isinf(column.to_numpy()))
        if len(infinite):
            raise InvalidInput(
                f"column {spec_name!r}: {column.iloc[infinite[0]]} at row {infinite[0]}, and the signature "
                "allows only finite values there"
            )


def _range_check(spec: ColumnSpec, column: pd.Series, kind: str) -> None:
    """Integers (or whole floats) for an integer column must fit its dtype: casting would wrap them."""
    values = column.dropna()
    if values.empty:
        return
    low, high = integer_range(spec.dtype)
    if kind == "float":  # floats are exact integers only within ±2**53
        low, high = max(low, -EXACT_FLOAT_INTEGERS), min(high, EXACT_FLOAT_INTEGERS)
    if low <= _plain(values.min()) and _plain(values.max()) <= high:  # Python numbers compare exactly
        return
    for row, value in zip(np.flatnonzero(column.notna().to_numpy()), values.tolist(), strict=True):
        refusal = integer_refusal(value, spec.dtype)
        if refusal is not None:
            raise InvalidInput(f"column {spec.name!r}: {refusal} (row {row})")


def _wrong_type(spec: ColumnSpec, column: pd.Series, kind: str) -> InvalidInput:
    if kind == "string":
        sample = next((v for v in column if isinstance(v, str)), None)
        example = "" if sample is None else f" (e.g. {sample!r})"  # none in a schema-only (empty) frame
        return InvalidInput(f"column {spec.name!r}: expected {spec.dtype}, got string values{example}")
    return InvalidInput(f"column {spec.name!r}: expected {spec.dtype}, got {kind} ({column.dtype})")


def _coerce_column(spec: ColumnSpec, column: pd.Series) -> pd.Series:
    kind = column_kind(column)
    if kind == "empty":  # every value missing: only the NaN rule applies
        _nan_check(spec.name, column, spec.allow_nan)
    dtype = spec.dtype
    if dtype in ("string", "category"):
        if kind not in ("string", "category", "empty"):
            raise _wrong_type(spec, column, kind)
        _nan_check(spec.name, column, spec.allow_nan)
        if dtype == "string":
            return column
        return _as_category(spec, column)
    if dtype == "datetime":
        if kind not in ("datetime", "string", "empty"):
            raise _wrong_type(spec, column, kind)
        _nan_check(spec.name, column, spec.allow_nan)
        try:
            return pd.to_datetime(column)
        except (ValueError, TypeError) as exc:
            raise InvalidInput(f"column {spec.name!r}: expected datetime, cannot parse: {exc}") from None
    if dtype == "bool":
        if kind not in ("bool", "empty"):
            raise _wrong_type(spec, column, kind)
        _nan_check(spec.name, column, spec.allow_nan)
        return column if spec.allow_nan else column.astype(bool)
    # numeric target
    if kind not in ("int", "float", "empty"):
        raise _wrong_type(spec, column, kind)
    _nan_check(spec.name, column, spec.allow_nan)
    target = np.dtype(dtype)
    if target.kind in "iu" and kind == "float":
        values = column.to_numpy(dtype="float64", na_value=np.nan)
        finite = values[~np.isnan(values)]
        if not np.array_equal(finite, np.round(finite)):
            raise InvalidInput(f"column {spec.name!r}: expected {dtype}, got float values with fractions")
        _range_check(spec, column, kind)
        if np.isnan(values).any():  # integers cannot hold NaN: keep floats where NaN is allowed
            return pd.Series(values, index=column.index, name=column.name)
    elif target.kind in "iu" and kind == "int":
        _range_check(spec, column, kind)
    elif target.kind == "f" and kind == "float" and column.dtype != target:
        _float_range_check(spec, column)
    if column.dtype == target:
        return column
    if target.kind == "f" or not column.isna().any():
        return column.astype(target)
    return column.astype("float64")


def _float_range_check(spec: ColumnSpec, column: pd.Series) -> None:
    """A float too large for a narrower float dtype would become ±Inf."""
    limit = float(np.finfo(np.dtype(spec.dtype)).max)
    values = column.to_numpy(dtype="float64", na_value=np.nan)
    too_large = np.flatnonzero(np.isfinite(values) & (np.abs(values) > limit))
    if len(too_large):
        row = int(too_large[0])
        raise InvalidInput(
            f"column {spec.name!r}: expected {spec.dtype} within ±{limit:.6g}, got {float(values[row])!r} (row {row})"
        )


def _as_category(spec: ColumnSpec, column: pd.Series) -> pd.Series:
    known = list(spec.categories or [])
    seen = [v for v in pd.unique(column.dropna())]
    unseen = [v for v in seen if v not in set(known)] if known else []
    if unseen and not spec.allow_unseen:
        raise InvalidInput(f"column {spec.name!r}: unseen category {unseen[0]!r}; expected one of {known}")
    if (
        isinstance(column.dtype, pd.CategoricalDtype)
        and not unseen
        and list(column.dtype.categories) == known
    ):
        return column
    return pd.Series(pd.Categorical(column, categories=known + unseen), index=column.index, name=column.name)


def _validate_tensor(spec: TensorSpec, data: Any) -> np.ndarray:
    if isinstance(data, pd.DataFrame):
        data = data.to_numpy()
    try:
        array = np.asarray(data)
    except ValueError as exc:  # ragged lists
        raise InvalidInput(
            f"wrong shape: expected {_shape_text(spec.shape)}, the rows differ in length ({exc})"
        ) from None
    if array.ndim != len(spec.shape) or any(
        want not in (-1, got) for want, got in zip(spec.shape, array.shape, strict=False)
    ):
        raise InvalidInput(f"wrong shape: expected {_shape_text(spec.shape)}, got {tuple(array.shape)}")
    target = np.dtype(spec.dtype)
    got = array.dtype
    if got == target:
        out = array
    elif got.kind == "O" and target.kind in "iu" and all(type(v) is int for v in array.flat):
        # Python ints beyond what any numpy integer holds: name the first that does not fit
        index = next(i for i in np.ndindex(array.shape) if integer_refusal(array.item(i), spec.dtype))
        raise InvalidInput(f"{integer_refusal(array.item(index), spec.dtype)} at index {index}")
    elif got.kind in "OUS":
        raise InvalidInput(f"wrong type: expected {spec.dtype} numbers, got {got} values")
    elif target.kind == "b" and got.kind != "b":
        raise InvalidInput(f"wrong type: expected bool, got {got}")
    elif target.kind in "iu" and got.kind == "f":
        if not np.isfinite(array).all() or not np.array_equal(array, np.round(array)):
            raise InvalidInput(
                f"wrong type: expected {spec.dtype}, got float values with fractions or NaN/Inf"
            )
        _tensor_range_check(spec.dtype, array, EXACT_FLOAT_INTEGERS)
        out = array.astype(target)
    elif target.kind in "iu" and got.kind in "iu":
        _tensor_range_check(spec.dtype, array, None)
        out = array.astype(target)
    else:
        if target.kind == "f" and got.itemsize > target.itemsize:  # a narrower float: ±Inf past its range
            wide = array.astype("float64")
            too_large = np.isfinite(wide) & (np.abs(wide) > float(np.finfo(target).max))
            if too_large.any():
                index = tuple(int(i) for i in np.argwhere(too_large)[0])
                raise InvalidInput(
                    f"{_plain(array[index])!r} at index {index} is out of range for {spec.dtype}"
                )
        out = array.astype(target)
    if not spec.allow_nan and out.dtype.kind == "f" and not np.isfinite(out).all():
        index = tuple(int(i) for i in np.argwhere(~np.isfinite(out))[0])
        value = "NaN" if np.isnan(out[index]) else str(float(out[index]))
        raise InvalidInput(f"{value} at index {index}, and the signature does not allow NaN or Inf")
    return out


def _tensor_range_check(dtype: str, array: np.ndarray, exact_limit: int | None) -> None:
    """Whole numbers for an integer tensor must fit its dtype (numpy's cast would wrap them)."""
    low, high = integer_range(dtype)
    if exact_limit is not None:
        low, high = max(low, -exact_limit), min(high, exact_limit)
    if array.size == 0 or (low <= _plain(array.min()) and _plain(array.max()) <= high):
        return
    index = tuple(int(i) for i in np.argwhere((array < low) | (array > high))[0])
    refusal = integer_refusal(_plain(array[index]), dtype)
    raise InvalidInput(f"{refusal} at index {index}")


def _shape_text(shape: tuple[int, ...]) -> str:
    return (
        "("
        + ", ".join("batch" if d == -1 else str(d) for d in shape)
        + ("," if len(shape) == 1 else "")
        + ")"
    )
