"""Label joins: a closed window's predictions and the labels they have, stored once.

Labels come back for days, so a closed window's realised metrics are recomputed after it closed.
Doing that from the prediction log meant re-reading the window's rows (every feature) and every
label logged since the window began, on every pass. Instead, when the monitor computes a closed
window from the log it stores the window's **label join**: one Parquet blob with the columns the
metrics need -- ``request_id``, ``row``, ``model_name``, ``model_version``, ``prediction``,
``score`` -- and the rows' labels (one JSON array, ``null`` while none), recorded as artifact ``WIDTH/START.parquet``
of owner ``monitor_window``/ENDPOINT (``gc`` keeps what an artifact names; a newer join of the same
window replaces the record, the old blob goes with the next ``gc``). Its Parquet metadata holds:

* ``identity``: a hash of the ids of the log files its rows came from. Compaction, a late file or
  expiry changes it; the monitor then rebuilds the window from the log (and stores a new join).
* ``feedback_ms``: the pass clock when its labels were read. The next pass reads only feedback
  stamped from ``feedback_ms - SETTLE_MS`` on (a label stamped just before a pass but committed
  after it is still seen) and lays it over the stored labels: a label logged again replaces the
  earlier one, as in the store.

A join whose predictions Parquet cannot hold (mixed JSON answers) is not stored; that window is
relabelled from the log as before.

Examples
--------
>>> import pandas as pd
>>> rows = pd.DataFrame({"request_id": ["r1", "r1"], "row": [0, 1], "model_name": ["churn"] * 2,
...     "model_version": pd.array([1, 1], dtype="Int64"), "prediction": [1, 0], "score": [0.9, 0.2]})
>>> join = LabelJoin.build(rows, [1, None], identity="abc", feedback_ms=5)
>>> back = LabelJoin.from_bytes(join.to_bytes())
>>> back.labels.tolist(), back.identity, back.feedback_ms
([1, None], 'abc', 5)
"""

from __future__ import annotations

import hashlib
import io
import logging
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from loopwright.errors import NotFound
from loopwright.store import PredictionLogFile
from loopwright.store.entities import ArtifactRef
from loopwright.tracking.client import Client

log = logging.getLogger(__name__)

OWNER = "monitor_window"  # artifacts.owner_type of label joins (owner_id = endpoint)
COLUMNS = ("request_id", "row", "model_name", "model_version", "prediction", "score")
SETTLE_MS = 60_000  # feedback stamped this long before a pass's clock is read again by the next
_META = b"loopwright.label_join"
_LABELS = b"loopwright.labels"


def identity(files: Iterable[PredictionLogFile]) -> str:
    """What a window's rows are made of: a hash of its log files' ids (order does not matter)."""
    return hashlib.sha256("\n".join(sorted(f.id for f in files)).encode()).hexdigest()[:32]


class LabelJoin:
    """A window's rows as the metrics need them (``frame``) and each row's label (``labels``).

    A stored join is read lazily: its identity and watermark first, its rows only when
    :meth:`touches` says new feedback names one of them.
    """

    def __init__(
        self,
        frame: pd.DataFrame | None,
        labels: np.ndarray | None,
        identity: str,
        feedback_ms: int,
        data: bytes | None = None,
    ):
        self._frame, self._labels, self._data = frame, labels, data
        self.identity = identity
        self.feedback_ms = feedback_ms

    @classmethod
    def build(
        cls, frame: pd.DataFrame, labels: Sequence[Any] | np.ndarray, *, identity: str, feedback_ms: int
    ) -> LabelJoin:
        out = np.empty(len(frame), dtype=object)
        out[:] = list(labels)
        return cls(frame[list(COLUMNS)].reset_index(drop=True), out, identity, feedback_ms)

    @property
    def frame(self) -> pd.DataFrame:
        if self._frame is None:
            assert self._data is not None
            frame = pq.read_table(pa.BufferReader(self._data)).to_pandas()
            for name in frame.columns:
                if isinstance(frame[name].dtype, pd.CategoricalDtype):  # dictionary-encoded objects
                    frame[name] = frame[name].astype(object).where(frame[name].notna(), None)
            frame["model_version"] = frame["model_version"].astype("Int64")  # as the log gives it
            self._frame = frame
        return self._frame

    @property
    def labels(self) -> np.ndarray:
        if self._labels is None:
            assert self._data is not None
            values = orjson.loads(_metadata(self._data)[_LABELS])
            labels = np.empty(len(values), dtype=object)
            labels[:] = values
            self._labels = labels
        return self._labels

    def touches(self, request_ids: pa.Array) -> bool:
        """Whether any of these request ids has rows in the window (checked in Arrow, before the
        rows are turned into a frame)."""
        if self._data is None:
            return bool(self.frame["request_id"].isin(request_ids.to_pylist()).any())
        column = pq.read_table(pa.BufferReader(self._data), columns=["request_id"]).column("request_id")
        return any(
            pc.any(pc.is_in(chunk.dictionary, value_set=request_ids)).as_py()
            if isinstance(chunk, pa.DictionaryArray)
            else pc.any(pc.is_in(chunk, value_set=request_ids)).as_py()
            for chunk in column.chunks
        )

    def to_bytes(self) -> bytes | None:
        """The Parquet blob, or ``None`` when the predictions do not fit one Arrow type."""
        try:
            columns = {c: _arrow(self.frame[c]) for c in COLUMNS}
        except (TypeError, pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
            return None
        meta = {_META: orjson.dumps({"identity": self.identity, "feedback_ms": self.feedback_ms})}
        # the labels as one JSON array: one encode and one decode, whatever their types
        meta[_LABELS] = orjson.dumps(self.labels.tolist())
        buffer = io.BytesIO()
        pq.write_table(pa.table(columns).replace_schema_metadata(meta), buffer, compression="snappy")
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> LabelJoin:
        head = orjson.loads(_metadata(data)[_META])
        return cls(None, None, head["identity"], int(head["feedback_ms"]), data)


def _metadata(data: bytes) -> dict[bytes, bytes]:
    """The Parquet file's key-value metadata (its footer only)."""
    return dict(pq.read_schema(pa.BufferReader(data)).metadata or {})


def _arrow(column: pd.Series) -> pa.Array:
    """A column as Arrow; Python objects (request ids, names, labels-like predictions) dictionary
    encoded from ``pd.factorize`` -- hashing in C instead of Arrow's per-object type inference."""
    if column.dtype != object:
        return pa.Array.from_pandas(column)
    codes, uniques = pd.factorize(column)
    return pa.DictionaryArray.from_arrays(
        pa.array(codes, mask=codes < 0, type=pa.int32()), pa.array(list(uniques))
    )


def _path(width_ms: int, start_ms: int) -> str:
    return f"{width_ms}/{start_ms}.parquet"


def load_joins(client: Client, endpoint: str, width_ms: int, starts: Iterable[int]) -> dict[int, LabelJoin]:
    """The stored joins of these windows (by start); windows without one are left out."""
    wanted = {_path(width_ms, s): s for s in starts}
    if not wanted:
        return {}
    out = {}
    for ref in client.store.list_artifacts(OWNER, endpoint, prefix=str(width_ms)):
        if ref.path in wanted:
            try:
                out[wanted[ref.path]] = LabelJoin.from_bytes(client.blobs.get_bytes(ref.digest))
            except NotFound:  # its blob is gone (removed by hand): the window is read from the log
                log.warning(
                    "label join %s of endpoint %s is missing; relabelling from the log", ref.path, endpoint
                )
    return out


def save_joins(client: Client, endpoint: str, width_ms: int, joins: dict[int, LabelJoin]) -> None:
    """Store these windows' joins (by start), replacing earlier ones."""
    refs = []
    for start, join in sorted(joins.items()):
        data = join.to_bytes()
        if data is not None:
            digest, size = client.blobs.put_bytes(data)
            refs.append(ArtifactRef(_path(width_ms, start), digest, size))
    client.store.record_artifacts(OWNER, endpoint, refs)
