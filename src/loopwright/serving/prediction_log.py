"""The prediction log: what every served request saw and answered, for monitoring.

The hot path appends one tuple per request to a bounded in-memory queue and returns; when the
queue is full the record is dropped and counted, the request never waits. Two background threads
take it from there:

* the **spool** thread, every ``spool_interval`` (0.5 s): per (endpoint, model version, shadow,
  hour) it concatenates the requests' input arrays and outputs, computes a ``score``
  (positive-class or top-class probability) with one ``predict_proba`` call, and appends the rows
  to that group's segment in the on-disk spool (:mod:`loopwright.serving.spool`, under
  ``LOOPWRIGHT_HOME``). A SIGKILL therefore loses at most the requests answered since the last
  tick: about 0.5 s, at most 1 s, of traffic. With ``sync=True`` every request is spooled and
  fsync'd before its answer (a tick starts at once and serves every request that arrived while the
  previous one wrote: group commit), so nothing answered is lost;
* the **upload** thread, every ``flush_interval`` (5 s): each sealed segment becomes one Parquet
  file in the content-addressed blob store, indexed in the store's ``prediction_log_files`` table
  (and recorded in ``artifacts`` so ``gc`` keeps it), then leaves the spool. When the store or the
  artifact root cannot take it (database down, folder unwritable, disk full) the segment stays and
  is retried with a backoff (5 s doubling to 60 s); ``degraded`` says why meanwhile (readiness shows
  it). Its first pass at start writes what an earlier process left: a crash, a kill, a shutdown
  while the store was down.

Rows are lost only when neither spool nor store can take them, or when an endpoint's spool
outgrows ``spool_max_bytes`` (the oldest segments go); both are counted (``on_rows("lost", …)``).

Why Parquet in the artifact store rather than rows in a store table: the log is the biggest thing
serving writes (every row of every request, one column per feature). Written column-wise it costs
a few numpy concatenations per flush instead of a dict, a JSON document and an INSERT per row --
measured here, per-row SQL inserts cut 100-row-batch throughput by more than half, because the
log threads compete with the event loop for the GIL. Parquet keeps feature types, is what the
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
>>> log = PredictionLog(lambda: client, spool_dir=f"{home}/spool")
>>> log.record("churn", "req1", 1_700_000_000_000, None, "churn", 3, 1.2,
...            ModelInput(np.array([[1.0, 2.0]]), 1, ("a", "b")), np.array([1]))
>>> log.flush()  # spooled, then written to the store
True
>>> frame = list_predictions("churn", client=client)
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
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from loopwright.config import get_settings
from loopwright.errors import InvalidInput
from loopwright.serving.batching import _merge
from loopwright.serving.inputs import ModelInput
from loopwright.serving.spool import Group, Spool, spool_root
from loopwright.serving.throttle import LogThrottle
from loopwright.store import PredictionLogFile
from loopwright.store.entities import now_ms
from loopwright.tracking.client import Client, get_client

log = logging.getLogger(__name__)

HOUR_MS = 3_600_000
FIXED_COLUMNS = ("request_id", "row", "timestamp", "endpoint", "model_name", "model_version", "latency_ms")
INPUT_PREFIX = "input."
DEFAULT_SPOOL_BYTES = 512 * 1024 * 1024
MAX_RETRY_DELAY_S = 60.0  # backoff ceiling while the store is down
# (endpoint, request_id, timestamp_ms, model, model_name, model_version, latency_ms, input, output, shadow)
_Entry = tuple[str, str, int, Any, str | None, int | None, float, ModelInput, Any, bool]


class PredictionLog:
    """Bounded queue of served requests, spooled to local disk, then written to the store as Parquet.

    Parameters
    ----------
    client:
        Returns the client (store + blob store) to write to; called once, in a background thread.
    max_queue_rows:
        Predicted rows held in memory at most; beyond it new requests are dropped and counted.
        The spool tick starts early when half of it is used.
    flush_interval:
        Seconds a spool segment collects rows before it is written to the store as one file.
    spool_interval:
        Seconds between spool ticks: the most a SIGKILL can take away is this (plus one tick's work).
    sync:
        Write every request to the spool (and ``fsync`` it) before its answer: :meth:`record`
        returns a future the answer waits for. Nothing answered is lost, at the cost of latency.
    spool_dir:
        This store's spool folder (default: ``spool_root`` of the environment's settings).
    spool_max_bytes:
        Spool size bound per endpoint; past it the oldest segments are dropped (counted as lost).
    on_dropped, on_rows:
        Metrics hooks: ``on_dropped(endpoint)`` per request dropped because the queue was full;
        ``on_rows(event, endpoint, rows)`` with event ``spooled``, ``written``, ``retried``
        (written after a failed attempt, or replayed from an earlier process's spool) or ``lost``.
    """

    def __init__(
        self,
        client: Callable[[], Client],
        *,
        max_queue_rows: int = 200_000,
        flush_interval: float = 5.0,
        spool_interval: float = 0.5,
        sync: bool = False,
        spool_dir: Path | str | None = None,
        spool_max_bytes: int = DEFAULT_SPOOL_BYTES,
        on_dropped: Callable[[str], None] | None = None,
        on_rows: Callable[[str, str, int], None] | None = None,
    ):
        self._client_factory = client
        self._client: Client | None = None
        self._client_lock = threading.Lock()
        self.max_queue_rows = max_queue_rows
        # single-writer counters (loop thread adds, spool thread removes): no lock needed
        self._rows_in = 0
        self._rows_out = 0
        self.flush_interval = flush_interval
        self.spool_interval = spool_interval
        self.sync = sync
        if spool_dir is None:
            settings = get_settings()
            spool_dir = spool_root(settings.home, settings.store_uri, settings.artifact_uri)
        self.spool = Spool(Path(spool_dir), spool_max_bytes, sync)
        self.on_dropped = on_dropped
        self.on_rows = on_rows
        self.dropped = 0
        self._queue: deque[_Entry] = deque()
        # sync mode: the future of the next spool tick; it resolves to the request ids it could not log
        self._tick: Future[frozenset[str]] | None = Future() if sync else None
        self._spool_wake = threading.Event()
        self._upload_wake = threading.Event()
        self._spooled = _Passes()
        self._uploaded = _Passes()
        self._seal_through = 0  # spool passes up to this number seal every segment (flush)
        self._spool_error: str | None = None
        self._store_error: str | None = None
        self._retrying: set[str] = set()  # segments whose write to the store failed once
        self._started_ms = now_ms()  # segments older than this were left by an earlier process
        self._throttle = LogThrottle()
        self._threads: list[threading.Thread] = []
        self._stopping = False
        self._start_lock = threading.Lock()

    @property
    def degraded(self) -> str | None:
        """Why the log cannot write right now (rows wait in the spool, or are lost), else ``None``."""
        return self._spool_error or self._store_error

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
    ) -> Future[frozenset[str]] | None:
        """Queue one answered request (hot path: never blocks, drops when full).

        In sync mode returns the future of the spool tick that writes it: its result holds the
        request ids that tick could not log (the caller answers those with an error).
        """
        rows = self._rows_in - self._rows_out + data.rows
        if rows > self.max_queue_rows:
            self.dropped += 1
            if self.on_dropped is not None:
                self.on_dropped(endpoint)
            if self.sync:
                refused: Future[frozenset[str]] = Future()
                refused.set_result(frozenset([request_id]))
                return refused
            return None
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
        if not self._threads:
            self.start()
        if self._tick is not None:
            # read after the append: the tick taken then is one whose drain includes this entry
            tick = self._tick
            self._spool_wake.set()
            return tick
        if rows > self.max_queue_rows // 2 and not self._spool_wake.is_set():
            self._spool_wake.set()
        return None

    def start(self) -> None:
        """Start the spool and upload threads; the upload thread first writes what earlier processes
        left in the spool (a crash, a kill, a store that was down at shutdown)."""
        with self._start_lock:
            if not self._threads:
                self._stopping = False
                self._threads = [
                    threading.Thread(target=self._spool_loop, name="lw-prediction-spool", daemon=True),
                    threading.Thread(target=self._upload_loop, name="lw-prediction-upload", daemon=True),
                ]
                for thread in self._threads:
                    thread.start()

    def flush(self, timeout: float = 30.0) -> bool:
        """Write everything queued so far to the store (tests, shutdown, the demo).

        Returns ``False`` when the store could not take it all: the rest waits in the spool.
        """
        self.start()
        deadline = time.monotonic() + timeout
        self._seal_through = self._spooled.done + 2
        self._spooled.wait_for_two(self._spool_wake, deadline)
        self._uploaded.wait_for_two(self._upload_wake, deadline)
        return self.degraded is None

    def close(self, timeout: float = 30.0) -> None:
        """Write what is queued and stop the threads; what the store cannot take stays spooled."""
        if not self._threads and not self._queue:
            return
        complete = self.flush(timeout)
        self._stopping = True
        self._spool_wake.set()
        self._upload_wake.set()
        for thread in self._threads:
            thread.join(timeout=timeout)
        self._threads = []
        if not complete:
            log.warning(
                "prediction log: %s; unwritten rows stay in the spool %s and are written at the next start",
                self.degraded,
                self.spool.root,
            )

    # -- spool thread: queue -> local disk -------------------------------------------------------
    def _spool_loop(self) -> None:
        while True:
            self._spool_wake.wait(self.spool_interval)
            self._spool_wake.clear()
            stopping = self._stopping
            try:
                self._spool_pass()
            except Exception:  # the thread must outlive any one bad tick, or everything after is lost
                log.exception("prediction log: spool tick failed")
            self._spooled.finished()
            if stopping:
                self.spool.seal()
                return

    def _spool_pass(self) -> None:
        tick = self._tick
        if tick is not None:
            self._tick = Future()
        entries = []
        rows = 0
        while self._queue:
            entry = self._queue.popleft()
            rows += entry[7].rows
            entries.append(entry)
        self._rows_out += rows
        groups: dict[tuple[Any, ...], list[_Entry]] = {}
        for e in entries:
            groups.setdefault((e[0], id(e[3]), e[4], e[5], e[9], e[2] // HOUR_MS), []).append(e)
        failed: set[str] = set()
        active: set[Group] = set()
        try:
            for (endpoint, _, name, version, shadow, hour), group in groups.items():
                key = Group(endpoint, name, version, shadow, hour)
                active.add(key)
                failed.update(self._spool_group(key, group))
            self._seal_and_bound(active)
        finally:  # sync mode: the answers wait for this, whatever happened
            if tick is not None:
                tick.set_result(frozenset(failed))

    def _seal_and_bound(self, active: set[Group]) -> None:
        if self._spooled.done + 1 <= self._seal_through:
            sealed = self.spool.seal()
        else:
            sealed = self.spool.seal_idle(self.flush_interval, active)
        for endpoint in {g.endpoint for g in active}:
            lost = self.spool.bound(endpoint)
            if lost:
                self._count("lost", endpoint, lost)
                self._warn(
                    ("bound", endpoint),
                    f"the spool of {endpoint} is over its {self.spool.max_bytes}-byte bound; its oldest "
                    f"{lost} rows were dropped",
                )
        if sealed and self._store_error is None:  # while the store is down the backoff decides
            self._upload_wake.set()

    def _spool_group(self, key: Group, group: list[_Entry]) -> set[str]:
        """Spool one group's rows (else write them straight to the store); returns the request ids lost.

        Rows of different shapes (``/predict`` records and ``/v1/embeddings`` texts on one endpoint)
        make one table each, so each becomes its own segment and file; a request whose rows cannot
        be encoded at all is the only one lost.
        """
        lost: set[str] = set()
        tables, bad = _tables(group)
        for entries, error in bad:
            rows = sum(e[7].rows for e in entries)
            self._lose(key.endpoint, rows, f"their table could not be built: {_reason(error)}")
            lost.update(e[1] for e in entries)
        for entries, table in tables:
            if not self._spool_table(key, table):
                lost.update(e[1] for e in entries)
        return lost

    def _spool_table(self, key: Group, table: pa.Table) -> bool:
        rows = table.num_rows
        try:
            self.spool.append(key, table)
        except Exception as error:  # a full disk, an unwritable LOOPWRIGHT_HOME
            self._spool_error = f"cannot write to the spool {self.spool.root}: {_reason(error)}"
            try:
                self._write(key, table, uuid.uuid4().hex)
            except Exception as store_error:
                self._lose(
                    key.endpoint, rows, f"{self._spool_error}; nor to the store: {_reason(store_error)}"
                )
                return False
            self._count("written", key.endpoint, rows)
            self._warn("spool", f"{self._spool_error}; rows go straight to the store")
            return True
        self._spool_error = None
        self._count("spooled", key.endpoint, rows)
        return True

    # -- upload thread: spool -> store -----------------------------------------------------------
    def _upload_loop(self) -> None:
        delay = 0.0  # the first pass at once: replay what an earlier process left
        failures = 0
        while True:
            self._upload_wake.wait(delay)
            self._upload_wake.clear()
            stopping = self._stopping
            try:
                self._upload_pass()
            except Exception:
                log.exception("prediction log: upload pass failed")
            self._uploaded.finished()
            if stopping:
                return
            # while the store refuses: 5 s, 10 s, 20 s ... 60 s (exponent capped: no float overflow)
            failures = min(failures + 1, 16) if self._store_error is not None else 0
            delay = min(self.flush_interval * 2 ** max(failures - 1, 0), MAX_RETRY_DELAY_S)

    def _upload_pass(self) -> None:
        written = 0
        for path in self.spool.segments():
            with self.spool.take(path) as segment:
                if segment is None:  # being written, or taken by another worker
                    continue
                rows = segment.table.num_rows
                if rows:
                    try:
                        self._write(segment.group, segment.table, segment.id)
                    except Exception as error:
                        self._retrying.add(segment.id)
                        self._store_error = f"cannot write to the store: {_reason(error)}"
                        self._warn(
                            "store",
                            f"{self._store_error}; rows wait in the spool {self.spool.root} and are retried",
                        )
                        return  # the store is down: the next pass (after a backoff) retries
                    endpoint = segment.group.endpoint
                    self._count("written", endpoint, rows)
                    if segment.id in self._retrying or segment.created_ms < self._started_ms:
                        self._retrying.discard(segment.id)
                        self._count("retried", endpoint, rows)
                    written += rows
                self.spool.remove(segment)
        if self._store_error is not None:
            log.info("prediction log: the store takes rows again (%d spooled rows written)", written)
            self._throttle.forget("store")
        self._store_error = None

    def _write(self, group: Group, table: pa.Table, file_id: str) -> None:
        """One Parquet file into the blob store, indexed in the store under ``file_id``."""
        buffer = io.BytesIO()
        # dictionary encoding and statistics cost 10x the write itself on float features
        pq.write_table(table, buffer, compression="snappy", use_dictionary=False, write_statistics=False)
        client = self._get_client()
        digest, size = client.blobs.put_bytes(buffer.getvalue())
        stamps = table.column("timestamp_ms").to_numpy()
        first = int(stamps.min())
        hour = datetime.fromtimestamp(first // HOUR_MS * 3600, tz=UTC)
        path = f"{group.endpoint}/{hour:date=%Y-%m-%d/hour=%H}/{file_id}.parquet"
        file = PredictionLogFile(
            file_id,
            group.endpoint,
            group.model_name,
            group.model_version,
            group.shadow,
            first,
            int(stamps.max()),
            table.num_rows,
            path,
            digest,
            size,
        )
        try:
            client.store.add_prediction_log_file(file)
        except Exception:
            # a retry whose earlier attempt committed but lost its answer: recorded once is enough
            known = client.store.list_prediction_log_files(
                file.endpoint, first, first + 1, include_shadow=True
            )
            if not any(f.id == file_id for f in known):
                raise

    def _get_client(self) -> Client:
        with self._client_lock:
            if self._client is None:
                self._client = self._client_factory()
            return self._client

    def _count(self, event: str, endpoint: str, rows: int) -> None:
        if self.on_rows is not None:
            self.on_rows(event, endpoint, rows)

    def _lose(self, endpoint: str, rows: int, why: str) -> None:
        self._count("lost", endpoint, rows)
        self._warn(("lost", endpoint), f"{rows} rows of {endpoint} are lost: {why}")

    def _warn(self, key: Any, message: str) -> None:
        """One log line per kind of trouble a minute, however often it repeats."""
        allowed, held_back = self._throttle.allow(key, message)
        if allowed:
            log.warning(
                "prediction log: %s%s", message, f" ({held_back} repeats not logged)" if held_back else ""
            )


class _Passes:
    """Counts a background thread's passes, so a caller can wait for two that start after it asks."""

    def __init__(self) -> None:
        self.done = 0
        self._changed = threading.Condition()

    def finished(self) -> None:
        with self._changed:
            self.done += 1
            self._changed.notify_all()

    def wait_for_two(self, wake: threading.Event, deadline: float) -> None:
        """Wake the thread and wait until two more passes finished (one running now may have missed
        what the caller wants) or the deadline passed."""
        with self._changed:
            target = self.done + 2
            while self.done < target and time.monotonic() < deadline:
                wake.set()
                self._changed.wait(0.05)


def _reason(error: BaseException) -> str:
    """One short line: a database driver's own message, not SQLAlchemy's statement and parameters."""
    cause = getattr(error, "orig", None) or error
    return f"{type(cause).__name__}: {' '.join(str(cause).split())}"[:300]


def _tables(
    group: list[_Entry],
) -> tuple[list[tuple[list[_Entry], pa.Table]], list[tuple[list[_Entry], Exception]]]:
    """One group's requests as tables, one per row shape, and the requests no table can hold.

    Requests are split by the kind of their input and answer (array and its width, frame, list):
    those cannot be concatenated into one table. A shape whose table still fails (an answer the
    log cannot encode) is retried request by request, so only the requests that fail alone are lost.
    """
    shapes: dict[tuple[Any, ...], list[_Entry]] = {}
    for e in group:
        shapes.setdefault((_kind(e[7].data), e[7].columns, _kind(e[8])), []).append(e)
    tables: list[tuple[list[_Entry], pa.Table]] = []
    bad: list[tuple[list[_Entry], Exception]] = []
    for entries in shapes.values():
        try:
            tables.append((entries, _table(entries)))
            continue
        except Exception as error:
            if len(entries) == 1:
                bad.append((entries, error))
                continue
        for e in entries:
            try:
                tables.append(([e], _table([e])))
            except Exception as error:
                bad.append(([e], error))
    return tables, bad


def _kind(value: Any) -> tuple[Any, ...]:
    """What decides whether values concatenate: an array's trailing shape, a frame (columns union), a list."""
    if isinstance(value, np.ndarray):
        return ("array", value.shape[1:])
    return (type(value).__name__,)


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


def list_predictions(
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
    >>> list(list_predictions("churn", since=timedelta(hours=1), client=client).columns)
    ['request_id', 'row', 'timestamp', 'endpoint', 'model_name', 'model_version', 'latency_ms', 'prediction', 'score']
    """
    client = client if client is not None else get_client()
    since_ms, until_ms = to_ms(since), to_ms(until)
    files = client.store.list_prediction_log_files(endpoint, since_ms, until_ms, include_shadow)
    return read_predictions(files, since_ms, until_ms, include_shadow=include_shadow, client=client)


def read_predictions(
    files: Sequence[PredictionLogFile],
    since_ms: int | None = None,
    until_ms: int | None = None,
    *,
    include_shadow: bool = False,
    client: Client,
) -> pd.DataFrame:
    """The rows of these log files in ``[since_ms, until_ms)``, shaped as :func:`list_predictions`
    returns them (the monitor lists an endpoint's files once and reads each window's from them).

    >>> import tempfile
    >>> from loopwright.tracking.client import Client
    >>> home = tempfile.mkdtemp()
    >>> len(read_predictions([], client=Client(f"sqlite:///{home}/lw.db", f"{home}/artifacts")))
    0
    """
    frames = []
    for f in files:
        table = pq.read_table(pa.BufferReader(client.blobs.get_bytes(f.digest)))
        frame = table.to_pandas()
        stamps = frame["timestamp_ms"]
        keep = np.ones(len(frame), dtype=bool)
        if since_ms is not None:
            keep &= (stamps >= since_ms).to_numpy()
        if until_ms is not None:
            keep &= (stamps < until_ms).to_numpy()
        if not keep.all():  # a window's files mostly lie inside it: no copy of every column then
            frame = frame[keep]
        if pa.types.is_large_string(table.schema.field("prediction").type):  # JSON-encoded answers
            frame["prediction"] = [orjson.loads(v) for v in frame["prediction"]]
        frame["endpoint"] = f.endpoint
        frame["model_name"] = f.model_name
        version = pd.array(np.zeros(len(frame), dtype=np.int64), dtype="Int64")
        version[:] = f.model_version  # None: all missing
        frame["model_version"] = version
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
