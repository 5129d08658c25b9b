"""Adaptive micro-batching: concurrent requests to one model share one ``predict`` call.

Batches count rows, not requests. A request that finds the model idle and nobody else waiting is
dispatched at once (no added wait); requests that arrive while a batch runs queue up and leave
together when it finishes. ``max_latency_ms`` bounds how long a queued request waits for other
requests still being read off the wire. Each batch is released for one of two reasons, exported
in ``/metrics``: ``size`` (the next request would not fit, or the batch is full) or ``time``
(nothing else was waiting, or the latency budget ran out).

``predict`` runs in one worker thread per model, so the event loop keeps reading requests while
the model computes, and merging/splitting happen off the loop too. The exception is a lone small
request to a model whose small calls take under 2 ms: it runs on the loop, saving two thread
wake-ups (on a busy machine each can wait a scheduler slice).

Examples
--------
>>> import asyncio, numpy as np
>>> batcher = Batcher(lambda x: x.sum(axis=1), max_batch_size=8)
>>> async def main():
...     parts = [np.full((2, 3), i, dtype=float) for i in range(3)]
...     return await asyncio.gather(*(batcher.submit(p, 2) for p in parts))
>>> [r.tolist() for r in asyncio.run(main())]
[[0.0, 0.0], [3.0, 3.0], [6.0, 6.0]]
>>> batcher.close()
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pandas as pd

from loopwright.errors import LoopwrightError

BatchObserver = Callable[[int, str], None]  # (rows, reason) after each batch is released
# a lone request of at most this many rows, to a model whose small calls take under this long,
# runs on the event loop itself instead of the worker thread
INLINE_MAX_ROWS = 16
INLINE_MAX_S = 0.002


class ModelOutputError(LoopwrightError):
    """The model returned something that cannot be split back into per-request answers."""


class _Failed:
    """One request's model error, carried through the batch result list."""

    __slots__ = ("error",)

    def __init__(self, error: BaseException):
        self.error = error


class _Pending:
    __slots__ = ("data", "future", "loop", "rows", "t0")

    def __init__(self, data: Any, rows: int, future: asyncio.Future[Any], loop: asyncio.AbstractEventLoop):
        self.data = data
        self.rows = rows
        self.future = future
        self.loop = loop
        self.t0 = time.perf_counter()


class Batcher:
    """Queue in front of one model's ``predict``.

    Parameters
    ----------
    predict:
        Called in the worker thread with the merged input (numpy array, DataFrame or list).
    max_batch_size:
        Most rows in one call. A single request larger than this runs alone.
    max_latency_ms:
        Longest a queued request waits for requests that are still arriving.
    enabled:
        ``False`` for models that are not batch-safe: one request per call, still one at a time.
    observe:
        Called with ``(rows, reason)`` for every batch (metrics).
    arriving:
        Returns how many requests for this model are being read right now (worth waiting for).
    concurrency:
        Batches in flight at once (each on its own worker thread). 1 unless the model says its
        ``predict`` is thread-safe and gains from it: a request that arrives while a batch runs
        then starts on the next free thread instead of waiting for that batch to end.
    """

    def __init__(
        self,
        predict: Callable[[Any], Any],
        *,
        max_batch_size: int = 64,
        max_latency_ms: float = 5.0,
        enabled: bool = True,
        observe: BatchObserver | None = None,
        arriving: Callable[[], int] | None = None,
        name: str = "model",
        concurrency: int = 1,
    ):
        if max_batch_size < 1:
            raise ValueError("max_batch_size must be at least 1")
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.predict = predict
        self.max_batch_size = max_batch_size
        self.max_latency = max_latency_ms / 1000.0
        self.enabled = enabled
        self.observe = observe
        self.arriving = arriving
        self.queued_rows = 0
        self._queue: deque[_Pending] = deque()
        self.concurrency = concurrency
        self._running = 0  # batches in flight (changed on the event loop only)
        self._scheduled = False
        self._timer: asyncio.TimerHandle | None = None
        self._executor = ThreadPoolExecutor(concurrency, thread_name_prefix=f"lw-predict-{name}")
        self._closed = False
        self._small_call_s = float("inf")  # running estimate; unknown until one small call ran

    @property
    def idle(self) -> bool:
        """Nothing queued and no batch running."""
        return self._running == 0 and not self._queue

    def submit(self, data: Any, rows: int) -> asyncio.Future[Any]:
        """Queue one request's input; the future resolves to its slice of the model output."""
        if self._closed:
            raise RuntimeError("batcher is closed")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._queue.append(_Pending(data, rows, future, loop))
        self.queued_rows += rows
        if self._running < self.concurrency and not self._scheduled:
            # call_soon, not a direct call: requests parsed in this same loop turn join the batch
            self._scheduled = True
            loop.call_soon(self._dispatch)
        return future

    def _dispatch(self, force: bool = False) -> None:
        self._scheduled = False
        if force:
            self._timer = None
        if self._running >= self.concurrency or not self._queue:
            return
        queue = self._queue
        if (
            not force
            and self.enabled
            and self.arriving is not None
            and self.queued_rows < self.max_batch_size
            and self.arriving() > 0
        ):
            wait = queue[0].t0 + self.max_latency - time.perf_counter()
            if wait > 0:
                if self._timer is None:
                    self._timer = queue[0].loop.call_later(wait, self._dispatch, True)
                return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        batch = [queue.popleft()]
        rows = batch[0].rows
        if self.enabled:
            limit = self.max_batch_size
            while queue and rows + queue[0].rows <= limit:
                item = queue.popleft()
                batch.append(item)
                rows += item.rows
            reason = "size" if queue or rows >= limit else "time"
        else:
            reason = "size" if queue else "time"
        self.queued_rows -= rows
        if self.observe is not None:
            self.observe(rows, reason)
        if (
            len(batch) == 1
            and not queue
            and not self._running
            and rows <= INLINE_MAX_ROWS
            and self._small_call_s < INLINE_MAX_S
        ):
            # a lone small request to a fast model: calling it here saves two thread wake-ups,
            # and nothing else is waiting for the loop meanwhile
            self._settle(batch, [self._timed_call(batch[0].data, rows)])
            return
        self._running += 1
        done = batch[0].loop.run_in_executor(self._executor, self._run, batch)
        done.add_done_callback(lambda f: self._finished(batch, f))

    def poke(self) -> None:
        """A request that was being read is queued or gone: re-check whether to release."""
        if self._queue and self._running < self.concurrency and not self._scheduled:
            self._scheduled = True
            self._queue[0].loop.call_soon(self._dispatch)

    def _run(self, batch: list[_Pending]) -> list[Any]:
        """Worker thread: merge, predict once, split back by row offsets.

        If the merged call raises, each request is retried alone, so one bad request fails only
        itself and never its batch-mates.
        """
        if len(batch) == 1:
            return [self._timed_call(batch[0].data, batch[0].rows)]
        try:
            output = self.predict(_merge([p.data for p in batch]))
            _check_length(output, sum(p.rows for p in batch))
        except Exception:
            return [self._call(p.data, p.rows) for p in batch]
        parts = []
        start = 0
        for p in batch:
            parts.append(_slice(output, start, start + p.rows))
            start += p.rows
        return parts

    def _timed_call(self, data: Any, rows: int) -> Any:
        """One request's call; small ones update the running estimate of a small call's cost."""
        start = time.perf_counter()
        output = self._call(data, rows)
        if rows <= INLINE_MAX_ROWS:
            elapsed = time.perf_counter() - start
            previous = self._small_call_s
            self._small_call_s = elapsed if previous == float("inf") else 0.8 * previous + 0.2 * elapsed
        return output

    def _call(self, data: Any, rows: int) -> Any:
        try:
            output = self.predict(data)
            _check_length(output, rows)
        except Exception as error:
            return _Failed(error)
        return output

    def _finished(self, batch: list[_Pending], done: asyncio.Future[list[Any]]) -> None:
        self._running -= 1
        error = done.exception()
        self._settle(batch, done.result() if error is None else [_Failed(error)] * len(batch))
        if self._queue:
            self._dispatch()

    @staticmethod
    def _settle(batch: list[_Pending], results: list[Any]) -> None:
        for p, part in zip(batch, results, strict=True):
            if p.future.done():
                continue
            if type(part) is _Failed:
                p.future.set_exception(part.error)
            else:
                p.future.set_result(part)

    def close(self) -> None:
        """Stop the worker thread once queued batches are done (callers drain first)."""
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
        self._executor.shutdown(wait=False)


def _merge(parts: list[Any]) -> Any:
    first = parts[0]
    if isinstance(first, np.ndarray):
        return np.concatenate(parts)
    if isinstance(first, pd.DataFrame):
        return pd.concat(parts, ignore_index=True)
    return [row for part in parts for row in part]


def _slice(output: Any, start: int, stop: int) -> Any:
    if isinstance(output, pd.DataFrame | pd.Series):
        return output.iloc[start:stop]
    return output[start:stop]


def _check_length(output: Any, rows: int) -> None:
    try:
        n = len(output)
    except TypeError:
        raise ModelOutputError(f"model returned {type(output).__name__}, not one answer per row") from None
    if n != rows:
        raise ModelOutputError(f"model returned {n} answers for {rows} rows")
