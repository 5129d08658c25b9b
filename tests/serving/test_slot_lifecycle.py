"""A Slot owns its lifecycle: requests enter and leave, a swap retires it, it closes exactly once."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import pytest

from loopwright.serving.batching import Batcher
from loopwright.serving.deployment import BatchingSpec
from loopwright.serving.endpoint import Arrivals, Slot
from loopwright.serving.metrics import ServingMetrics


class Doubler:
    signature: Any = None
    has_proba = False

    def predict(self, data: Any, validate: bool = True) -> Any:
        return np.asarray(data) * 2

    def predict_proba(self, data: Any, validate: bool = True) -> Any:
        raise NotImplementedError

    def warm_up(self) -> None:
        pass


@pytest.fixture
def slot(monkeypatch: pytest.MonkeyPatch) -> Slot:
    made = Slot("ep", Doubler(), "m", 1, BatchingSpec(), ServingMetrics(), Arrivals())
    closes: list[int] = []
    real_close = Batcher.close

    def counting_close(self: Batcher) -> None:
        closes.append(1)
        real_close(self)

    monkeypatch.setattr(made.batcher, "close", counting_close.__get__(made.batcher))
    made.closes = closes  # type: ignore[attr-defined]
    return made


def test_retired_slot_closes_once_with_its_last_request(slot: Slot) -> None:
    async def scenario() -> None:
        assert (await slot.batcher.submit(np.ones((1, 2)), 1)).tolist() == [[2.0, 2.0]]
        slot.enter()
        slot.enter()
        slot.retire(asyncio.get_running_loop())
        await asyncio.sleep(0)  # the drained-check scheduled by retire runs: two still in flight
        assert not slot.closed
        slot.leave()
        assert not slot.closed
        slot.leave()
        assert slot.closed
        slot.close()  # the app's shutdown closes every slot again: no second close
        slot.close_if_drained()
        with pytest.raises(RuntimeError, match="batcher is closed"):
            slot.batcher.submit(np.ones((1, 2)), 1)

    asyncio.run(scenario())
    assert slot.closes == [1]  # type: ignore[attr-defined]


def test_idle_slot_closes_when_retired_and_a_serving_one_never_does(slot: Slot) -> None:
    async def scenario() -> None:
        slot.enter()
        slot.leave()
        assert not slot.closed  # not retired: answering its last request leaves it open
        slot.retire(asyncio.get_running_loop())
        assert not slot.closed  # closed on the loop, after requests already scheduled there
        await asyncio.sleep(0)
        assert slot.closed

    asyncio.run(scenario())
    assert slot.closes == [1]  # type: ignore[attr-defined]


def test_retire_without_a_loop_closes_now(slot: Slot) -> None:
    slot.retire(None)
    assert slot.closed and slot.closes == [1]  # type: ignore[attr-defined]
