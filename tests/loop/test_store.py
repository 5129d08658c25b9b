"""The loop's state machine records on SQLite and PostgreSQL: state per model, transitions in order,
compare-and-set against a concurrent controller."""

from __future__ import annotations

import threading

import pytest

from loopwright.errors import Conflict, InvalidInput
from loopwright.store import open_store
from loopwright.store.entities import LOOP_RESTING_STATES
from loopwright.store.sql import SqlStore


def test_states_and_history(store: SqlStore) -> None:
    fresh = store.get_loop_state("churn")
    assert (fresh.state, fresh.cycle, fresh.version, fresh.resting) == ("idle", 0, None, True)
    assert store.list_loop_history("churn") == [] and store.list_loop_states() == []

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

    history = store.list_loop_history("churn")
    assert [(t.from_state, t.to_state, t.cycle) for t in history] == [
        ("idle", "retraining", 1),
        ("retraining", "gated", 1),
        ("gated", "promoted", 1),
    ]
    assert history[1].details == {"passed": True, "gate_run_id": "abc"} and history[1].version == 2
    assert [t.time_ms for t in history] == [1000, 2000, 3000]
    assert [t.to_state for t in store.list_loop_history("churn", max_results=2)] == ["gated", "promoted"]
    assert store.list_loop_history("churn", cycle=2) == []
    assert [s.model for s in store.list_loop_states()] == ["churn"]


def test_a_stale_expectation_is_a_conflict(store: SqlStore) -> None:
    store.transition_loop("churn", "retraining", expect=["idle"], cycle=1, version=None, reason="first")
    with pytest.raises(Conflict, match=r"is retraining .*another controller"):
        store.transition_loop("churn", "retraining", expect=["idle"], cycle=1, version=None, reason="second")
    assert len(store.list_loop_history("churn")) == 1
    with pytest.raises(InvalidInput, match=r"unknown loop state|to_state"):  # the server names the field
        store.transition_loop("churn", "bogus", expect=["retraining"], cycle=1, version=None, reason="x")  # type: ignore[arg-type]


def test_two_controllers_starting_at_once_one_wins(store_uri: str) -> None:
    outcomes: list[str] = []
    barrier = threading.Barrier(4)

    def start() -> None:
        own = open_store(store_uri)
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
    probe = open_store(store_uri)
    assert [t.to_state for t in probe.list_loop_history("churn")] == ["retraining"]
    probe.close()


def test_pause_marks_and_actors(store: SqlStore) -> None:
    store.transition_loop(
        "churn", "retraining", expect=["idle"], cycle=1, version=None, reason="drift", time_ms=1000,
        details={"owner": {"pid": 1}}, actor="loopwright-loop",
    )  # fmt: skip
    paused = store.set_loop_paused("churn", True, actor="ada", reason="paused by ada", time_ms=2000)
    assert (paused.state, paused.paused, paused.paused_by, paused.paused_ms, paused.since_ms) == (
        "retraining", True, "ada", 2000, 1000,
    )  # fmt: skip
    with pytest.raises(Conflict, match="already paused"):
        store.set_loop_paused("churn", True, actor="bob", reason="again")
    assert store.get_loop_state("churn").paused_by == "ada"
    # a takeover is compare-and-set on the recorded owner too
    with pytest.raises(Conflict, match="changed its owner"):
        store.transition_loop(
            "churn", "retraining", expect=["retraining"], cycle=1, version=None, reason="take over",
            expect_details={"owner": {"pid": 2}},
        )  # fmt: skip
    moved = store.transition_loop(
        "churn", "gated", expect=["retraining"], cycle=1, version=2, reason="gate passed", time_ms=3000,
        expect_details={"owner": {"pid": 1}},
    )  # fmt: skip
    assert moved.paused and moved.paused_by == "ada"  # a move keeps the pause
    resumed = store.set_loop_paused("churn", False, actor="bob", reason="resumed by bob", time_ms=4000)
    assert not resumed.paused and not store.get_loop_state("churn").paused
    with pytest.raises(Conflict, match="not paused"):
        store.set_loop_paused("churn", False, actor="bob", reason="again")
    history = store.list_loop_history("churn")
    assert [(t.from_state, t.to_state, t.actor, t.reason) for t in history] == [
        ("idle", "retraining", "loopwright-loop", "drift"),
        ("retraining", "retraining", "ada", "paused by ada"),
        ("retraining", "gated", None, "gate passed"),
        ("gated", "gated", "bob", "resumed by bob"),
    ]
    store.mark_loop_checked("churn", 9000)
    store.mark_loop_checked("churn", 5000)  # never back in time
    assert store.get_loop_state("churn").checked_ms == 9000
    store.mark_loop_checked("fresh", 7000)
    assert (store.get_loop_state("fresh").state, store.get_loop_state("fresh").checked_ms) == ("idle", 7000)
