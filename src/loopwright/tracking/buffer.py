"""Buffered metric logging: callers enqueue and return; a background thread writes batches.

``flush()`` writes everything enqueued so far in the caller's thread (under the same lock the
background writer holds), so after it returns every earlier point is in the store. An
interpreter exit flushes too; a SIGKILL loses only what was never flushed.
"""

from __future__ import annotations

import atexit
import logging
import threading
import weakref
from collections import deque
from collections.abc import Callable, Sequence

from loopwright.errors import LoopwrightError
from loopwright.store.entities import MetricPoint

log = logging.getLogger(__name__)

Point = tuple[str, MetricPoint]

_live_buffers: weakref.WeakSet[MetricBuffer] = weakref.WeakSet()


class MetricBuffer:
    """Queue of ``(run_id, point)`` drained into ``write`` in batches.

    Parameters
    ----------
    write:
        Called with a batch of points (``Store.log_metrics``).
    interval:
        Seconds between background flushes.
    max_batch:
        Points per write; a queue this long also wakes the writer early.
    """

    def __init__(
        self, write: Callable[[Sequence[Point]], None], interval: float = 0.2, max_batch: int = 10_000
    ):
        self._write = write
        self._interval = interval
        self._max_batch = max_batch
        self._queue: deque[Point] = deque()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._errors: list[LoopwrightError] = []
        self._thread: threading.Thread | None = None
        self._stopped = False
        _live_buffers.add(self)

    def add(self, run_id: str, point: MetricPoint) -> None:
        self._queue.append((run_id, point))
        if self._thread is None:
            self._start()
        if len(self._queue) >= self._max_batch:
            self._wake.set()

    def extend(self, points: Sequence[Point]) -> None:
        self._queue.extend(points)
        if self._thread is None:
            self._start()
        if len(self._queue) >= self._max_batch:
            self._wake.set()

    def __len__(self) -> int:
        return len(self._queue)

    def _start(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="loopwright-metrics", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while not self._stopped:
            self._wake.wait(self._interval)
            self._wake.clear()
            try:
                self._drain()
            except Exception:  # transient (database locked, connection lost): retry next tick
                log.warning("metric flush failed; will retry", exc_info=True)

    def flush(self) -> None:
        """Write every queued point now; raise the first error a background write hit."""
        self._drain()
        if self._errors:
            error = self._errors.pop(0)
            self._errors.clear()
            raise error

    def _drain(self) -> None:
        with self._lock:
            while self._queue:
                batch: list[Point] = []
                while self._queue and len(batch) < self._max_batch:
                    batch.append(self._queue.popleft())
                try:
                    self._write(batch)
                except LoopwrightError:
                    self._write_per_run(batch)
                except Exception:
                    # put the batch back in front, in order, and let the caller decide
                    self._queue.extendleft(reversed(batch))
                    raise

    def _write_per_run(self, batch: list[Point]) -> None:
        """One run's bad state (ended elsewhere, deleted) must not lose other runs' points."""
        by_run: dict[str, list[Point]] = {}
        for item in batch:
            by_run.setdefault(item[0], []).append(item)
        for run_id, points in by_run.items():
            try:
                self._write(points)
            except LoopwrightError as error:
                log.error("dropped %d metric points of run %s: %s", len(points), run_id, error)
                self._errors.append(error)

    def close(self) -> None:
        """Flush and stop the background thread."""
        self._stopped = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._drain()


@atexit.register
def _flush_all_at_exit() -> None:
    for buffer in list(_live_buffers):
        try:
            buffer.close()
        except Exception:
            log.exception("could not flush metrics at exit")
