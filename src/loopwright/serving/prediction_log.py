"""The prediction log: what every served request saw and answered, for monitoring.

The hot path appends one tuple per request to a bounded in-memory queue and returns; when the
queue is full the record is dropped and counted, the request never waits. A background thread
drains the queue every ``flush_interval`` seconds: per (endpoint, model version, hour) it
concatenates the requests' input arrays and outputs, computes a ``score`` (positive-class or
top-class probability) with one ``predict_proba`` call, and writes one Parquet file into the
content-addressed blob store, indexed in the store's ``prediction_log_files`` table (and recorded
in ``artifacts`` so ``gc`` keeps it).

Why Parquet in the artifact store rather than rows in a store table: the log is the biggest thing
serving writes (every row of every request, one column per feature). Written column-wise it costs
a few numpy concatenations per flush instead of a dict, a JSON document and an INSERT per row --
measured here, per-row SQL inserts cut 100-row-batch throughput by more than half, because the
drain thread competes with the event loop for the GIL. Parquet keeps feature types, is what the
monitoring code reads into pandas anyway, and hourly files make retention a matter of dropping
files. The small index table keeps time-range queries cheap and lets several worker processes
append without coordinating file names.

Examples
--------
>>> import tempfile, numpy as np
>>> from loopwright.tracking.client import Client
>>> from loopwright.serving.inputs import ModelInput
>>> home = tempfile.mkdtemp()
>>> client = Client(f"sqlite:///{home}/lw.db", f"{home}/artifacts")
>>> log = PredictionLog(lambda: client)
>>> log.record("churn", "req1", 1_700_000_000_000, None, "churn", 3, 1.2,
...            ModelInput(np.array([[1.0, 2.0]]), 1, ("a", "b")), np.array([1]))
>>> log.flush()
>>> frame = get_predictions("churn", client=client)
>>> frame[["request_id", "row", "model_version", "a", "b", "prediction"]].to_dict("records")
[{'request_id': 'req1', 'row': 0, 'model_version': 3, 'a': 1.0, 'b': 2.0, 'prediction': 1}]
>>> log.close()
"""

from __future__ import annotations

import io
import logging
import math
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from loopwright.errors import InvalidInput
from loopwright.serving.batching import _merge
from loopwright.serving.inputs import ModelInput
from loopwright.store import PredictionLogFile
from loopwright.store.entities import now_ms
from loopwright.tracking.client import Client, get_client

log = logging.getLogger(__name__)

HOUR_MS = 3_600_000
FIXED_COLUMNS = ("request_id", "row", "timestamp", "endpoint", "model_name", "model_version", "latency_ms")
INPUT_PREFIX = "input."
# (endpoint, request_id, timestamp_ms, model, model_name, model_version, latency_ms, input, output, shadow)
_Entry = tuple[str, str, int, Any, str | None, int | None, float, ModelInput, Any, bool]


class PredictionLog:
    """Bounded queue of served requests, drained into Parquet files by a background thread.

    Parameters
    ----------
    client:
        Returns the client (store + blob store) to write to; called once, in the drain thread.
    max_queue_rows:
        Predicted rows held in memory at most; beyond it new requests are dropped and counted.
        The drain starts early when half of it is used.
    flush_interval:
        Seconds between drains (each drain writes about one file per endpoint and version).
    on_dropped, on_written:
        Metrics hooks: ``on_dropped(endpoint)`` per dropped request, ``on_written(endpoint, rows)``.
    """

    def __init__(
        self,
        client: Callable[[], Client],
        *,
        max_queue_rows: int = 200_000,
        flush_interval: float = 5.0,
        on_dropped: Callable[[str], None] | None = None,
        on_written: Callable[[str, int], None] | None = None,
    ):
        self._client_factory = client
        self._client: Client | None = None
        self.max_queue_rows = max_queue_rows
        # single-writer counters (loop thread adds, drain thread removes): no lock needed
        self._rows_in = 0
        self._rows_out = 0
        self.flush_interval = flush_interval
        self.on_dropped = on_dropped
        self.on_written = on_written
        self.dropped = 0
        self._queue: deque[_Entry] = deque()
        self._wake = threading.Event()
        self._flushed = threading.Condition()
        self._generation = 0  # drains completed
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._start_lock = threading.Lock()

    def record(
        self,
        endpoint: str,
        request_id: str,
        timestamp_ms: int,
        model: Any,
        model_name: str | None,
        model_version: int | None,
        latency_ms: float,
        data: ModelInput,
        output: Any,
        shadow: bool = False,
    ) -> None:
        """Queue one answered request (hot path: never blocks, drops when full)."""
        rows = self._rows_in - self._rows_out + data.rows
        if rows > self.max_queue_rows:
            self.dropped += 1
            if self.on_dropped is not None:
                self.on_dropped(endpoint)
            return
        self._rows_in += data.rows
        self._queue.append(
            (
                endpoint,
                request_id,
                timestamp_ms,
                model,
                model_name,
                model_version,
                latency_ms,
                data,
                output,
                shadow,
            )
        )
        if self._thread is None:
            self._start()
        elif rows > self.max_queue_rows // 2 and not self._wake.is_set():
            self._wake.set()

    def flush(self, timeout: float = 30.0) -> None:
        """Block until everything queued so far is written (tests, shutdown, the demo)."""
        if self._thread is None:
            if not self._queue:
                return
            self._start()
        with self._flushed:
            target = self._generation + 2  # a drain that started before this call may miss entries
            self._wake.set()
            deadline = time.monotonic() + timeout
            while self._generation < target and time.monotonic() < deadline:
                self._wake.set()
                self._flushed.wait(0.05)

    def close(self) -> None:
        """Write what is queued and stop the drain thread."""
        self.flush()
        self._stopping = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        self._thread = None

    # -- drain thread ----------------------------------------------------------------------------
    def _start(self) -> None:
        with self._start_lock:
            if self._thread is None:
                self._stopping = False
                self._thread = threading.Thread(target=self._loop, name="lw-prediction-log", daemon=True)
                self._thread.start()

    def _loop(self) -> None:
        while not self._stopping:
            self._wake.wait(self.flush_interval)
            self._wake.clear()
            self._drain()
            with self._flushed:
                self._generation += 1
                self._flushed.notify_all()

    def _drain(self) -> None:
        entries = []
        rows = 0
        while self._queue:
            entry = self._queue.popleft()
            rows += entry[7].rows
            entries.append(entry)
        if not entries:
            return
        self._rows_out += rows
        groups: dict[tuple[Any, ...], list[_Entry]] = {}
        for e in entries:
            groups.setdefault((e[0], id(e[3]), e[4], e[5], e[9], e[2] // HOUR_MS), []).append(e)
        for group in groups.values():
            try:
                self._write(group)
            except Exception:  # the log must never take the server down
                log.exception(
                    "prediction log: %d requests to %s could not be written", len(group), group[0][0]
                )
                self.dropped += len(group)
                if self.on_dropped is not None:
                    for entry in group:
                        self.on_dropped(entry[0])

    def _write(self, group: list[_Entry]) -> None:
        endpoint, _, _, _, model_name, model_version, _, _, _, shadow = group[0]
        # slices keep each GIL-holding numpy/arrow call short, so the event loop is never stalled
        table = pa.concat_tables([_table(group[i : i + 1000]) for i in range(0, len(group), 1000)])
        buffer = io.BytesIO()
        # dictionary encoding and statistics cost 10x the write itself on float features
        pq.write_table(table, buffer, compression="snappy", use_dictionary=False, write_statistics=False)
        if self._client is None:
            self._client = self._client_factory()
        digest, size = self._client.blobs.put_bytes(buffer.getvalue())
        stamps = table.column("timestamp_ms").to_numpy()
        first = int(stamps.min())
        hour = datetime.fromtimestamp(first // HOUR_MS * 3600, tz=UTC)
        file_id = uuid.uuid4().hex
        path = f"{endpoint}/{hour:date=%Y-%m-%d/hour=%H}/{file_id}.parquet"
        self._client.store.add_prediction_log_file(
            PredictionLogFile(
                file_id,
                endpoint,
                model_name,
                model_version,
                shadow,
                first,
                int(stamps.max()),
                table.num_rows,
                path,
                digest,
                size,
            )
        )
        if self.on_written is not None:
            self.on_written(endpoint, table.num_rows)


def _table(group: list[_Entry]) -> pa.Table:
    """One group of requests → a columnar table, one row per predicted row."""
    counts = np.array([e[7].rows for e in group], dtype=np.int64)
    total = int(counts.sum())
    starts = np.repeat(np.cumsum(counts) - counts, counts)
    columns: dict[str, Any] = {
        "request_id": pa.array(np.repeat(np.array([e[1] for e in group], dtype=object), counts), pa.string()),
        "row": pa.array(np.arange(total, dtype=np.int64) - starts, pa.int32()),
        "timestamp_ms": pa.array(np.repeat(np.array([e[2] for e in group], dtype=np.int64), counts)),
        "latency_ms": pa.array(np.repeat(np.array([e[6] for e in group], dtype=np.float64), counts)),
    }
    inputs = _merge([e[7].data for e in group])
    names = group[0][7].columns
    if isinstance(inputs, pd.DataFrame):
        for name in inputs.columns:
            columns[INPUT_PREFIX + str(name)] = pa.array(inputs[name].to_numpy(), from_pandas=True)
    elif isinstance(inputs, np.ndarray) and names is not None and inputs.ndim == 2:
        for j, name in enumerate(names):
            columns[INPUT_PREFIX + name] = pa.array(np.ascontiguousarray(inputs[:, j]))
    else:
        columns["input"] = pa.array(
            [orjson.dumps(v, option=orjson.OPT_SERIALIZE_NUMPY).decode() for v in _rows(inputs)]
        )
    columns["prediction"] = _prediction_column(_merge([e[8] for e in group]))
    columns["score"] = pa.array(_scores(group[0][3], inputs, total), pa.float64())
    return pa.table(columns)


def _rows(values: Any) -> list[Any]:
    if isinstance(values, np.ndarray):
        return list(values.tolist())
    return list(values)


def _prediction_column(output: Any) -> pa.Array:
    if isinstance(output, pd.DataFrame):
        output = output.iloc[:, 0] if output.shape[1] == 1 else output.to_dict("records")
    if isinstance(output, pd.Series):
        output = output.to_numpy()
    if isinstance(output, np.ndarray) and output.ndim == 1 and output.dtype.kind in "fiubU":
        return pa.array(output)
    # nested, multi-output or mixed answers keep their shape as JSON text (decoded on read)
    return pa.array(
        [orjson.dumps(v, option=orjson.OPT_SERIALIZE_NUMPY, default=str).decode() for v in _rows(output)]
    ).cast(pa.large_string())


def _scores(model: Any, inputs: Any, total: int) -> np.ndarray | list[None]:
    if model is None or not getattr(model, "has_proba", False):
        return [None] * total
    try:
        proba = model.predict_proba(inputs, validate=False)
        proba = np.asarray(proba.to_numpy() if isinstance(proba, pd.DataFrame) else proba, dtype=float)
        if proba.ndim == 1:
            return proba
        return proba[:, 1] if proba.shape[1] == 2 else proba.max(axis=1)
    except Exception:
        log.warning("prediction log: predict_proba failed; rows logged without score", exc_info=True)
        return [None] * total


# -- reading ---------------------------------------------------------------------------------------
EPOCH_SECONDS_BELOW = 100_000_000_000  # as epoch ms that is March 1973; as seconds, year 5138


def to_ms(value: datetime | str | int | float | timedelta | None) -> int | None:
    """A time bound → UTC milliseconds: datetimes (naive = UTC), ISO strings, epoch seconds
    (``time.time()``) or milliseconds, or a ``timedelta`` meaning "that long ago".

    Epoch numbers are told apart by size: below 10^11 they are seconds (as milliseconds that
    would be before March 1973, older than any prediction).

    >>> to_ms("1970-01-01T00:00:01Z")
    1000
    >>> to_ms(1_767_225_600), to_ms(1_767_225_600.5), to_ms(1_767_225_600_000)
    (1767225600000, 1767225600500, 1767225600000)
    """
    if value is None:
        return None
    if isinstance(value, timedelta):
        return now_ms() - int(value.total_seconds() * 1000)
    if isinstance(value, bool):
        raise InvalidInput("a time bound must be a datetime, ISO string, epoch seconds or ms, or timedelta")
    if isinstance(value, int | float):
        if not math.isfinite(value):
            raise InvalidInput(f"a time bound must be a finite epoch time, got {value!r}")
        return int(value * 1000) if abs(value) < EPOCH_SECONDS_BELOW else int(value)
    if isinstance(value, str):
        try:
            value = pd.Timestamp(value).to_pydatetime()
        except ValueError:
            raise InvalidInput(f"not an ISO 8601 time: {value!r}") from None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return int(value.timestamp() * 1000)
    raise InvalidInput(
        f"a time bound must be a datetime, ISO string, epoch seconds or ms, or timedelta, got {value!r}"
    )


def get_predictions(
    endpoint: str,
    since: datetime | str | int | timedelta | None = None,
    until: datetime | str | int | timedelta | None = None,
    *,
    include_shadow: bool = False,
    client: Client | None = None,
) -> pd.DataFrame:
    """Read an endpoint's prediction log: one row per predicted row, oldest first.

    Parameters
    ----------
    endpoint:
        Endpoint name (for ``loopwright serve models:/churn@champion`` it is ``churn``).
    since, until:
        Time range ``[since, until)``: datetimes (naive = UTC), ISO strings, epoch seconds
        (``time.time()``) or milliseconds, or a ``timedelta`` meaning "that long ago".
    include_shadow:
        Also return the answers of shadow models (and a ``shadow`` column).
    client:
        Defaults to the client of the current environment.

    Returns
    -------
    pandas.DataFrame
        Columns ``request_id``, ``row``, ``timestamp`` (UTC), ``endpoint``, ``model_name``,
        ``model_version``, ``latency_ms``, the input features by name, ``prediction`` and
        ``score`` (positive-class probability for binary classifiers, top-class probability for
        multi-class ones, NaN for models without ``predict_proba``). A feature named like one of
        the other columns keeps an ``input.`` prefix.

    Examples
    --------
    >>> import tempfile
    >>> from loopwright.tracking.client import Client
    >>> home = tempfile.mkdtemp()
    >>> client = Client(f"sqlite:///{home}/lw.db", f"{home}/artifacts")
    >>> list(get_predictions("churn", since=timedelta(hours=1), client=client).columns)
    ['request_id', 'row', 'timestamp', 'endpoint', 'model_name', 'model_version', 'latency_ms', 'prediction', 'score']
    """
    client = client if client is not None else get_client()
    since_ms, until_ms = to_ms(since), to_ms(until)
    frames = []
    for f in client.store.list_prediction_log_files(endpoint, since_ms, until_ms, include_shadow):
        table = pq.read_table(pa.BufferReader(client.blobs.get_bytes(f.digest)))
        frame = table.to_pandas()
        stamps = frame["timestamp_ms"]
        keep = np.ones(len(frame), dtype=bool)
        if since_ms is not None:
            keep &= (stamps >= since_ms).to_numpy()
        if until_ms is not None:
            keep &= (stamps < until_ms).to_numpy()
        frame = frame[keep]
        if pa.types.is_large_string(table.schema.field("prediction").type):  # JSON-encoded answers
            frame["prediction"] = [orjson.loads(v) for v in frame["prediction"]]
        frame["endpoint"] = f.endpoint
        frame["model_name"] = f.model_name
        frame["model_version"] = pd.array([f.model_version] * len(frame), dtype="Int64")
        frame["shadow"] = f.shadow
        frames.append(frame)
    return _shape(frames, include_shadow)


def _shape(frames: list[pd.DataFrame], include_shadow: bool) -> pd.DataFrame:
    if frames:
        frame = pd.concat(frames, ignore_index=True).sort_values(
            "timestamp_ms", kind="stable", ignore_index=True
        )
    else:
        frame = pd.DataFrame(
            {
                "request_id": pd.Series(dtype=object),
                "row": pd.Series(dtype="int32"),
                "timestamp_ms": pd.Series(dtype="int64"),
                "endpoint": pd.Series(dtype=object),
                "model_name": pd.Series(dtype=object),
                "model_version": pd.Series(dtype="Int64"),
                "latency_ms": pd.Series(dtype="float64"),
                "prediction": pd.Series(dtype=object),
                "score": pd.Series(dtype="float64"),
                "shadow": pd.Series(dtype=bool),
            }
        )
    frame["timestamp"] = pd.to_datetime(frame["timestamp_ms"], unit="ms", utc=True)
    reserved = set(FIXED_COLUMNS) | {"prediction", "score", "shadow"}
    renames = {}
    for column in frame.columns:
        if column.startswith(INPUT_PREFIX) and column[len(INPUT_PREFIX) :] not in reserved:
            renames[column] = column[len(INPUT_PREFIX) :]
    frame = frame.rename(columns=renames)
    features = [
        c for c in frame.columns if c in renames.values() or c.startswith(INPUT_PREFIX) or c == "input"
    ]
    order = [*FIXED_COLUMNS, *features, "prediction", "score", *(["shadow"] if include_shadow else [])]
    return frame[order]
