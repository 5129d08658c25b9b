"""MLflow scoring-server compatibility: the ``/invocations`` body formats.

``dataframe_split``, ``dataframe_records``, ``instances`` or ``inputs`` as JSON, or a CSV body,
so a client of ``mlflow models serve`` switches by changing the URL only.

Examples
--------
>>> from types import SimpleNamespace as NS
>>> schema = InputSchema(NS(kind="dataframe", inputs=[NS(name="x", dtype="float64", categories=None, allow_nan=False)]))
>>> decode_invocations({"dataframe_split": {"columns": ["x"], "data": [[1.0], [2.0]]}}, schema).data.ravel()
array([1., 2.])
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any

import pandas as pd

from loopwright.errors import InvalidInput
from loopwright.serving.inputs import InputSchema, ModelInput

FORMATS = ("dataframe_split", "dataframe_records", "instances", "inputs")


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
    if key == "dataframe_split":
        return schema.from_split(value)
    if key == "inputs" and isinstance(value, Mapping):
        return schema.from_columns(value)
    return schema.from_records(value)


def decode_csv(body: bytes, schema: InputSchema) -> ModelInput:
    """A ``text/csv`` body with a header row → validated model input."""
    try:
        frame = pd.read_csv(io.BytesIO(body))
    except (ValueError, pd.errors.ParserError) as error:
        raise InvalidInput(f"cannot parse the CSV body: {error}") from None
    rows = frame.astype(object).where(frame.notna(), None).to_numpy().tolist()
    return schema.from_split({"columns": [str(c) for c in frame.columns], "data": rows})
