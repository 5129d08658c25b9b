"""The loop's state machine records on SQLite and PostgreSQL: state per model, transitions in order,
compare-and-set against a concurrent controller."""

from __future__ import annotations

import threading

import pytest

from loopwright.errors import Conflict, InvalidInput
from loopwright.store.entities import LOOP_RESTING_STATES
from loopwright.store.sql import SqlStore


def test_states_and_history(store: SqlStore) -> None:
    fresh = store.get_loop_state("churn")
    assert (fresh.state, fresh.cycle, fresh.version, fresh.resting) == ("idle", 0, None, True)
    assert store.get_loop_history("churn") == [] and store.list_loop_states() == []

    s = store.transition_loop(
        "churn", "retraining", expect=LOOP_RESTING_STATES, cycle=1, version=None, reason="drift", time_ms=1000
    )
    assert (s.state, s.cycle, s.since_ms, s.resting) == ("retraining", 1, 1000, False)
    store.transition_loop(
        "churn",
        "gated",
        expect=["retraining"],
        cycle=1,
        version=2,
        reason="gate passed",
        details={"passed": True, "gate_run_id": "abc"},
        time_ms=2000,
    )
    done = store.transition_loop(
        "churn", "promoted", expect=["gated"], cycle=1, version=2, reason="promoted", watermark_ms=3000,
        time_ms=3000,
    )  # fmt: skip
    stored = store.get_loop_state("churn")
    assert stored == done.__class__(**{**done.__dict__, "updated_ms": stored.updated_ms})
    assert (stored.state, stored.version, stored.watermark_ms) == ("promoted", 2, 3000)

    history = store.get_loop_history("churn")
    assert [(t.from_state, t.to_state, t.cycle) for t in history] == [
        ("idle", "retraining", 1),
        ("retraining", "gated", 1),
        ("gated", "promoted", 1),
    ]
    assert history[1].details == {"passed": True, "gate_run_id": "abc"} and history[1].version == 2
    assert [t.time_ms for t in history] == [1000, 2000, 3000]
    assert [t.to_state for t in store.get_loop_history("churn", max_results=2)] == ["gated", "promoted"]
    assert store.get_loop_history("churn", cycle=2) == []
    assert [s.model for s in store.list_loop_states()] == ["churn"]


def test_a_stale_expectation_is_a_conflict(store: SqlStore) -> None:
    store.transition_loop("churn", "retraining", expect=["idle"], cycle=1, version=None, reason="first")
    with pytest.raises(Conflict, match=r"is retraining .*another controller"):
        store.transition_loop("churn", "retraining", expect=["idle"], cycle=1, version=None, reason="second")
    assert len(store.get_loop_history("churn")) == 1
    with pytest.raises(InvalidInput, match="unknown loop state"):
        store.transition_loop("churn", "bogus", expect=["retraining"], cycle=1, version=None, reason="x")  # type: ignore[arg-type]


def test_two_controllers_starting_at_once_one_wins(store_uri: str) -> None:
    outcomes: list[str] = []
    barrier = threading.Barrier(4)

    def start() -> None:
        own = SqlStore(store_uri)
        barrier.wait()
        try:
            own.transition_loop(
                "churn", "retraining", expect=["idle"], cycle=1, version=None, reason="trigger"
            )
            outcomes.append("won")
        except Conflict:
            outcomes.append("lost")
        finally:
            own.close()

    threads = [threading.Thread(target=start) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["lost", "lost", "lost", "won"]
    probe = SqlStore(store_uri)
    assert [t.to_state for t in probe.get_loop_history("churn")] == ["retraining"]
    probe.close()
