"""Dataset fingerprints: a digest of the content, the schema and the row count — never the rows.

Examples
--------
>>> import pandas as pd
>>> fp = fingerprint(pd.DataFrame({"x": [1, 2, 3], "y": ["a", "b", "c"]}), name="train")
>>> fp.n_rows, fp.schema
(3, {'x': 'int64', 'y': 'str'})
>>> fp.digest == fingerprint(pd.DataFrame({"x": [1, 2, 3], "y": ["a", "b", "c"]}), name="t").digest
True
"""

from __future__ import annotations

import hashlib
import os
from typing import Any

import numpy as np
import pandas as pd

from loopwright.frames import to_pandas
from loopwright.store.entities import DatasetInput


def fingerprint(data: Any, name: str, context: str = "input", source: str | None = None) -> DatasetInput:
    """Fingerprint a frame, a data file, records, a numpy array or a Series.

    ``data`` is anything :func:`loopwright.frames.to_pandas` takes (pandas, polars or pyarrow table,
    ``.parquet``/``.csv`` path — then also the ``source`` unless given —, list of records, dict of
    columns), a numpy array or a pandas Series. The digest covers values, column names, dtypes and
    order, computed vectorised (``pandas.util.hash_pandas_object``), so a million-row frame takes
    milliseconds; the same rows give the same digest whichever library holds them.

    >>> fingerprint([{"x": 1}, {"x": 2}], name="t").digest == fingerprint({"x": [1, 2]}, name="t").digest
    True
    """
    if source is None and isinstance(data, str | os.PathLike):
        source = os.fspath(data)
    frame = _as_frame(data)
    schema = {str(col): _dtype_name(dtype) for col, dtype in frame.dtypes.items()}
    hasher = hashlib.sha256()
    hasher.update(repr(sorted(schema.items())).encode())
    hasher.update(repr(list(schema)).encode())
    if len(frame):
        row_hashes = pd.util.hash_pandas_object(frame, index=False).to_numpy()
        hasher.update(np.ascontiguousarray(row_hashes).tobytes())
    return DatasetInput(
        name=name,
        digest=hasher.hexdigest(),
        n_rows=len(frame),
        schema=schema,
        context=context,
        source=source,
    )


def _dtype_name(dtype: Any) -> str:
    text = str(dtype)
    return "str" if text in ("object", "string", "str") else text


def _as_frame(data: Any) -> pd.DataFrame:
    if isinstance(data, pd.DataFrame):
        return data
    if isinstance(data, pd.Series):
        return data.to_frame()
    if isinstance(data, np.ndarray):
        if data.ndim == 1:
            return pd.DataFrame({"0": data})
        if data.ndim == 2:
            return pd.DataFrame(data, columns=[str(i) for i in range(data.shape[1])])
        return pd.DataFrame({"0": list(data.reshape(data.shape[0], -1))}).map(lambda v: v.tobytes())
    return to_pandas(data, what="the dataset")
