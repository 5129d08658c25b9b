"""Triggers over real monitoring windows and alert states (SQLite and PostgreSQL): evidence counts
only from windows that started after the last cycle ended; a controller that died mid-retraining
is noticed."""

from __future__ import annotations

import threading
from pathlib import Path

from loop_scenario import FEATURES, HOUR, T0, config, log_traffic, register_champion, sample

import loopwright as lw
from loopwright.loop import check_trigger


def _monitor(now: int) -> None:
    lw.monitor("churn", window="1h", now=now, grace="0s", include_open=False, alerts={"estimated": False})


def test_drift_and_alert_triggers_respect_the_watermark(lw_env: Path) -> None:
    register_champion(sample(3000, seed=1))
    store = lw.get_client().store
    state = store.get_loop_state("churn")
    assert not check_trigger("alerts", "churn", state, store).fired

    log_traffic(sample(800, seed=2)[FEATURES], T0 + 60_000, 1)
    _monitor(T0 + HOUR + 60_000)
    calm = check_trigger("alerts", "churn", state, store)
    assert (calm.fired, calm.reason) == (False, "no alert rule of endpoint 'churn' is firing")
    assert not check_trigger("drift", "churn", state, store).fired

    log_traffic(sample(800, seed=3, shifted=True)[FEATURES], T0 + HOUR + 60_000, 1)
    _monitor(T0 + 2 * HOUR + 60_000)
    alert = check_trigger("alerts", "churn", state, store)
    assert alert.fired and alert.reason.startswith("alert(s) firing: drift (since 2026-01-01 01:00:00 UTC)")
    assert check_trigger("drift", "churn", state, store).fired

    # a cycle ends at 02:02: the drifted hour 01:00 is old evidence for both triggers
    store.transition_loop("churn", "retraining", expect=["idle"], cycle=1, version=None, reason="drift")
    ended = store.transition_loop(
        "churn", "failed", expect=["retraining"], cycle=1, version=None, reason="x",
        watermark_ms=T0 + 2 * HOUR + 120_000,
    )  # fmt: skip
    assert not check_trigger("drift", "churn", ended, store).fired
    stale = check_trigger("alerts", "churn", ended, store)
    assert not stale.fired and "not yet judged on a window after the last cycle ended" in stale.reason

    # the drift goes on in the first hour that starts after it: both fire again
    log_traffic(sample(800, seed=4, shifted=True)[FEATURES], T0 + 3 * HOUR + 60_000, 1)
    _monitor(T0 + 4 * HOUR + 60_000)
    again = check_trigger("drift", "churn", ended, store)
    assert again.fired and again.evidence["window"] == [T0 + 3 * HOUR, T0 + 4 * HOUR]
    assert check_trigger("alerts", "churn", ended, store).fired


def test_a_retraining_left_by_a_dead_controller_is_abandoned(sqlite_env: Path, tmp_path: Path) -> None:
    loop = lw.Loop(config(tmp_path, trigger="never"))
    store = lw.get_client().store
    store.transition_loop(
        "churn", "retraining", expect=["idle"], cycle=1, version=None, reason="x", time_ms=T0
    )
    busy = loop.step(now=T0 + HOUR)
    assert (busy.state, busy.reason) == ("retraining", "cycle 1 is retraining in another controller")
    gone = loop.step(now=T0 + 7 * HOUR)
    assert gone.state == "failed" and gone.reason == "retraining abandoned: no progress for 25200 s"
    assert [t.to_state for t in gone.transitions] == ["failed"]


def test_run_forever_steps_until_stopped(sqlite_env: Path, tmp_path: Path) -> None:
    loop = lw.Loop(config(tmp_path, trigger="never"))
    stop = threading.Event()
    seen: list[lw.LoopResult] = []

    def on_step(result: lw.LoopResult) -> None:
        seen.append(result)
        if len(seen) == 2:
            stop.set()

    loop.run_forever("10ms", stop=stop, on_step=on_step)
    assert [(r.state, r.triggered) for r in seen] == [("idle", False), ("idle", False)]
