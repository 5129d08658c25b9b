"""MLflow scoring-server compatibility: the ``/invocations`` body formats and error answers.

``dataframe_split``, ``dataframe_records``, ``instances`` or ``inputs`` as JSON (records or a dict of
columns), a CSV body (a leading unnamed column is the pandas index ``DataFrame.to_csv()`` writes) or
a Parquet body, so a client of ``mlflow models serve`` switches by changing the URL only. Input
errors answer as MLflow does: 400 with ``error_code`` ``BAD_REQUEST``, or ``INVALID_PARAMETER_VALUE``
when the columns do not match the signature (MLflow's schema enforcement); our own routes keep 422.

Examples
--------
>>> from types import SimpleNamespace as NS
>>> schema = InputSchema(NS(kind="dataframe", inputs=[NS(name="x", dtype="float64", categories=None, allow_nan=False)]))
>>> decode_invocations({"dataframe_split": {"columns": ["x"], "data": [[1.0], [2.0]]}}, schema).data.ravel()
array([1., 2.])
>>> decode_table(b",x\\n0,1.5\\n1,2.5\\n", "csv", schema).data.ravel()
array([1.5, 2.5])
>>> invocations_error(InvalidInput("field 'x' expects float64"), "r1")
(400, b'{"error":"field \\'x\\' expects float64","error_code":"BAD_REQUEST","message":"field \\'x\\' expects float64","request_id":"r1"}')
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any, Literal

import pandas as pd
import pyarrow as pa

from loopwright.errors import InvalidInput
from loopwright.serving.inputs import InputSchema, ModelInput
from loopwright.serving.responses import HttpError, error_body, status_of

FORMATS = ("dataframe_split", "dataframe_records", "instances", "inputs")
TableKind = Literal["csv", "parquet"]
# MLflow 3 names Parquet application/vnd.apache.parquet; pandas and pyarrow users also send x-parquet
PARQUET_TYPES = (b"application/vnd.apache.parquet", b"application/x-parquet", b"application/parquet")
CONTENT_TYPES = ("application/json", "text/csv", *(t.decode() for t in PARQUET_TYPES))


class ColumnMismatch(InvalidInput):
    """The payload's columns are not the signature's (MLflow: ``INVALID_PARAMETER_VALUE``)."""


def body_kind(content_type: bytes | None) -> Literal["json", "csv", "parquet"]:
    """What the ``Content-Type`` says the body is (no header: JSON); 415 for anything else."""
    mime = (content_type or b"application/json").split(b";")[0].strip().lower()
    if mime == b"application/json":
        return "json"
    if mime == b"text/csv":
        return "csv"
    if mime in PARQUET_TYPES:
        return "parquet"
    raise HttpError(
        415,
        f"content type {mime.decode('latin-1')!r} is not supported; send one of {', '.join(CONTENT_TYPES)}",
    )


def decode_invocations(doc: Any, schema: InputSchema) -> ModelInput:
    """A JSON ``/invocations`` body → validated model input."""
    if not isinstance(doc, Mapping):
        raise InvalidInput(f"the body must be a JSON object with one of {', '.join(FORMATS)}")
    present = [k for k in FORMATS if k in doc]
    if len(present) != 1:
        raise InvalidInput(
            f"the body must have exactly one of {', '.join(FORMATS)}; got {present or sorted(doc)}"
        )
    key = present[0]
    value = doc[key]
    try:
        if key == "dataframe_split":
            return schema.from_split(value)
        if key in ("inputs", "instances") and isinstance(value, Mapping):
            return schema.from_columns(value)
        return schema.from_records(value)
    except InvalidInput as error:
        _reraise_mismatch(error, _given_columns(key, value), schema)
        raise


def decode_table(body: bytes, kind: TableKind, schema: InputSchema) -> ModelInput:
    """A ``text/csv`` body with a header row, or a Parquet file → validated model input."""
    if kind == "csv":
        # pandas' to_csv() writes its index as a first column with an empty header
        index = 0 if body.lstrip(b"\xef\xbb\xbf").startswith(b",") else None
        try:
            frame = pd.read_csv(io.BytesIO(body), index_col=index)
        except (ValueError, pd.errors.ParserError) as error:
            raise InvalidInput(f"cannot parse the CSV body: {error}") from None
    else:
        try:
            frame = pd.read_parquet(io.BytesIO(body))  # a stored index comes back as the index
        except (ValueError, OSError, pa.ArrowException) as error:
            raise InvalidInput(f"cannot read the Parquet body: {error}") from None
    columns = [str(c) for c in frame.columns]
    if frame.empty:
        # MLflow refuses it as schema enforcement (INVALID_PARAMETER_VALUE) when columns are missing too
        empty = InvalidInput(
            f"the {'CSV' if kind == 'csv' else 'Parquet'} body has no rows: send at least one"
        )
        _reraise_mismatch(empty, columns, schema)
        raise empty
    rows = frame.astype(object).where(frame.notna(), None).to_numpy().tolist()
    try:
        return schema.from_split({"columns": columns, "data": rows})
    except InvalidInput as error:
        _reraise_mismatch(error, columns, schema)
        raise


def invocations_error(error: BaseException, request_id: str) -> tuple[int, bytes]:
    """The error answer on ``/invocations``: MLflow's 400 and ``error_code`` for input errors."""
    if status_of(error) != 422:
        return error_body(error, request_id)
    code = "INVALID_PARAMETER_VALUE" if isinstance(error, ColumnMismatch) else "BAD_REQUEST"
    return error_body(error, request_id, status=400, error_code=code)


def _given_columns(key: str, value: Any) -> list[str] | None:
    """The column names a JSON payload carries (``None``: not a frame-shaped payload)."""
    if key == "dataframe_split":
        columns = value.get("columns") if isinstance(value, Mapping) else None
        return [str(c) for c in columns] if isinstance(columns, list) else None
    if isinstance(value, Mapping):
        return [str(k) for k in value]
    if isinstance(value, list) and all(isinstance(rec, Mapping) for rec in value):
        return list(dict.fromkeys(str(k) for rec in value for k in rec))  # [] for no rows
    return None


def _reraise_mismatch(error: InvalidInput, given: list[str] | None, schema: InputSchema) -> None:
    """Raise the error as a :class:`ColumnMismatch` when the columns (or rows) are what is wrong."""
    if schema.kind == "dataframe" and given is not None and set(given) != set(schema.names):
        raise ColumnMismatch(str(error)) from None
