"""The micro-batcher: rows not requests, no wait for a lone request, isolation of answers and errors."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

import httpx
import numpy as np
import pytest
from sklearn.linear_model import LinearRegression

from conftest import FEATURES, register, training_data
from loopwright.serving import ServerHandle
from loopwright.serving.batching import Batcher


class Gate:
    """A predict function that blocks the first call until released, recording every batch.

    ``entered`` is set once the first call is inside the model: from then on the batcher is busy,
    so whatever is submitted queues behind it (a barrier, where a sleep would only hope)."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        self.batches: list[int] = []

    def __call__(self, x: np.ndarray) -> np.ndarray:
        if not self.batches:
            self.entered.set()
            assert self.release.wait(10), "the test never released the gate"
        self.batches.append(len(x))
        if (x < 0).any():
            raise ValueError("negative input")
        return x[:, 0] * 2


def _rows(n: int, value: float) -> np.ndarray:
    return np.full((n, 1), value)


async def _inside(gate: Gate) -> None:
    """Wait (without blocking the event loop) until the first batch is running in the gate."""
    assert await asyncio.to_thread(gate.entered.wait, 10), "the first batch never reached the model"


def test_batches_count_rows_not_requests() -> None:
    gate = Gate()
    released: list[tuple[int, str]] = []
    batcher = Batcher(gate, max_batch_size=64, observe=lambda rows, reason: released.append((rows, reason)))

    async def main() -> list[Any]:
        first = batcher.submit(_rows(1, 1.0), 1)
        await _inside(gate)  # the first batch is now running (blocked in the gate)
        big = batcher.submit(_rows(50, 2.0), 50)
        small = batcher.submit(_rows(20, 3.0), 20)
        tiny = batcher.submit(_rows(10, 4.0), 10)
        gate.release.set()
        return await asyncio.gather(first, big, small, tiny)

    _, big, small, tiny = asyncio.run(main())
    # 50 + 20 > 64 never share a call; queue order is kept, so 20 + 10 go together next
    assert gate.batches == [1, 50, 30]
    assert released == [(1, "time"), (50, "size"), (30, "time")]
    assert big.tolist() == [4.0] * 50 and small.tolist() == [6.0] * 20 and tiny.tolist() == [8.0] * 10
    batcher.close()


class FirstCallGate(Gate):
    """A :class:`Gate` that holds only the very first call, however many threads call it."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0
        self.lock = threading.Lock()

    def __call__(self, x: np.ndarray) -> np.ndarray:
        with self.lock:
            self.calls += 1
            first = self.calls == 1
        if first:
            self.entered.set()
            assert self.release.wait(10), "the test never released the gate"
        self.batches.append(len(x))
        return x[:, 0] * 2


def test_with_concurrency_two_a_request_starts_while_a_batch_is_blocked() -> None:
    gate = FirstCallGate()
    batcher = Batcher(gate, max_batch_size=64, concurrency=2)

    async def main() -> list[Any]:
        first = batcher.submit(_rows(1, 1.0), 1)
        await _inside(gate)  # the first batch holds one worker thread
        second = batcher.submit(_rows(2, 2.0), 2)
        # answered while the first batch is still blocked: it ran on the second thread
        answered = await asyncio.wait_for(second, 10)
        assert not first.done() and not batcher.idle
        gate.release.set()
        return [await asyncio.wait_for(first, 10), answered]

    first, second = asyncio.run(main())
    assert first.tolist() == [2.0] and second.tolist() == [4.0, 4.0]
    assert sorted(gate.batches) == [1, 2] and batcher.idle
    batcher.close()


def test_concurrency_one_keeps_batches_one_at_a_time() -> None:
    gate = Gate()
    batcher = Batcher(gate, max_batch_size=64)

    async def main() -> None:
        first = batcher.submit(_rows(1, 1.0), 1)
        await _inside(gate)
        second = batcher.submit(_rows(2, 2.0), 2)
        await asyncio.sleep(0.2)  # time enough for a wrongly started second batch to finish
        assert not second.done() and gate.batches == []
        gate.release.set()
        await asyncio.gather(first, second)

    asyncio.run(main())
    assert gate.batches == [1, 2]
    batcher.close()


def test_lone_request_is_dispatched_without_waiting() -> None:
    seen: list[str] = []
    called = threading.Event()

    def predict(x: np.ndarray) -> np.ndarray:
        called.set()
        return x[:, 0]

    batcher = Batcher(predict, max_latency_ms=60_000, observe=lambda rows, reason: seen.append(reason))

    async def main() -> Any:
        future = batcher.submit(_rows(3, 1.0), 3)
        await asyncio.sleep(0)  # one loop turn: the dispatch is scheduled with call_soon
        # released on that turn, with a 60 s budget: nothing waited for the budget
        assert seen == ["time"] and not batcher.idle and batcher.queued_rows == 0
        assert await asyncio.to_thread(called.wait, 10)  # the model is called, not a timer armed
        return await asyncio.wait_for(future, 30)

    assert asyncio.run(main()).tolist() == [1.0, 1.0, 1.0]
    assert seen == ["time"]
    batcher.close()


def test_waits_for_arriving_requests_up_to_the_latency_budget() -> None:
    arriving = [1]
    seen: list[tuple[int, str]] = []
    batcher = Batcher(
        lambda x: x[:, 0],
        max_latency_ms=50,
        arriving=lambda: arriving[0],
        observe=lambda rows, reason: seen.append((rows, reason)),
    )

    async def main() -> Any:
        first = batcher.submit(_rows(1, 1.0), 1)
        await asyncio.sleep(0)  # one loop turn, far inside the 50 ms budget
        # someone is still sending a body: worth waiting for, so nothing is released yet
        assert seen == [] and not first.done() and batcher.queued_rows == 1
        arriving[0] = 0
        second = batcher.submit(_rows(2, 2.0), 2)
        batcher.poke()
        return await asyncio.gather(first, second)

    first, second = asyncio.run(main())
    assert first.tolist() == [1.0] and second.tolist() == [2.0, 2.0]
    assert seen == [(3, "time")]

    arriving[0] = 5  # nobody ever finishes arriving: the budget releases the batch
    seen.clear()

    async def stuck() -> Any:
        return await asyncio.wait_for(batcher.submit(_rows(1, 7.0), 1), 30)

    assert asyncio.run(stuck()).tolist() == [7.0]
    assert seen == [(1, "time")]
    batcher.close()


def test_a_failing_request_does_not_fail_its_batch_mates() -> None:
    gate = Gate()
    batcher = Batcher(gate, max_batch_size=64)

    async def main() -> list[Any]:
        first = batcher.submit(_rows(1, 1.0), 1)
        await _inside(gate)
        futures = [batcher.submit(_rows(2, v), 2) for v in (1.0, -1.0, 3.0)]
        gate.release.set()
        return await asyncio.gather(first, *futures, return_exceptions=True)

    _, good1, bad, good2 = asyncio.run(main())
    assert good1.tolist() == [2.0, 2.0] and good2.tolist() == [6.0, 6.0]
    assert isinstance(bad, ValueError)
    batcher.close()


def test_batching_off_calls_the_model_once_per_request() -> None:
    gate = Gate()
    batcher = Batcher(gate, max_batch_size=64, enabled=False)

    async def main() -> list[Any]:
        first = batcher.submit(_rows(1, 1.0), 1)
        await _inside(gate)
        rest = [batcher.submit(_rows(1, float(i)), 1) for i in range(5)]
        gate.release.set()
        return await asyncio.gather(first, *rest)

    asyncio.run(main())
    assert gate.batches == [1, 1, 1, 1, 1, 1]
    batcher.close()


@pytest.mark.parametrize("batching", [True, False])
def test_concurrent_distinct_inputs_get_their_own_answers(
    sqlite_env: object, serve: Callable[..., ServerHandle], batching: bool
) -> None:
    X, _ = training_data()
    target = X @ np.arange(1, len(FEATURES) + 1) + 0.5
    regressor = LinearRegression().fit(X, target)
    register(regressor, "price", X.head(3))
    from loopwright.serving import Deployment

    server = serve(Deployment.from_uri("models:/price/1", batching=None if batching else False))
    rng = np.random.default_rng(1)
    requests = [rng.normal(size=(int(rng.integers(1, 6)), len(FEATURES))) for _ in range(300)]

    async def main() -> list[httpx.Response]:
        limit = asyncio.Semaphore(32)
        async with httpx.AsyncClient(timeout=60) as client:

            async def one(rows: np.ndarray) -> httpx.Response:
                payload = {"instances": [dict(zip(FEATURES, r.tolist(), strict=True)) for r in rows]}
                async with limit:
                    return await client.post(f"{server.url}/endpoints/price/predict", json=payload)

            return await asyncio.gather(*(one(r) for r in requests))

    responses = asyncio.run(main())
    for rows, response in zip(requests, responses, strict=True):
        assert response.status_code == 200
        expected = regressor.predict(pd_frame(rows))
        np.testing.assert_allclose(response.json()["predictions"], expected, rtol=1e-9)
    metrics = httpx.get(f"{server.url}/metrics").text
    total_rows = sum(len(r) for r in requests)
    assert f'loopwright_batch_rows_sum{{endpoint="price",version="1"}} {float(total_rows)}' in metrics


def pd_frame(rows: np.ndarray) -> Any:
    import pandas as pd

    return pd.DataFrame(rows, columns=FEATURES)
