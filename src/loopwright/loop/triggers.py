"""Triggers: whether the monitoring evidence says "retrain now".

Evidence counts only if it is newer than the loop's watermark (when its last cycle ended): a
monitoring window must have *started* at or after it, so traffic the previous champion served
before a promotion, or the drift that started the last cycle, never starts another one.

- ``drift``: the latest closed window with a drift verdict drifted;
- ``alerts``: an alert rule of the endpoint is firing, judged on such a window;
- ``schedule``: a cron slot (UTC) the loop has not looked past yet, whatever the monitors say
  (see :mod:`loopwright.loop.schedule`);
- ``always``: every resting step starts a cycle; ``never``: only a forced step does.

Examples
--------
>>> import os, tempfile, loopwright as lw
>>> os.environ["LOOPWRIGHT_HOME"] = tempfile.mkdtemp()
>>> store = lw.get_client().store
>>> check_trigger("drift", "churn", store.get_loop_state("churn"), store).reason
"no closed monitoring window of endpoint 'churn' with a drift verdict yet"
>>> check_trigger("always", "churn", store.get_loop_state("churn"), store).fired
True
>>> monday_0300 = 1_767_582_000_000
>>> check_trigger("schedule", "churn", store.get_loop_state("churn"), store,
...               schedule="0 3 * * 1", now_ms=monday_0300 + 20_000).reason
"schedule '0 3 * * 1': slot 2026-01-05 03:00:00 UTC"
>>> del os.environ["LOOPWRIGHT_HOME"]; lw.reset_clients()
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from loopwright.errors import InvalidInput
from loopwright.loop.schedule import CronSchedule, clock
from loopwright.store.entities import LoopState, MonitorWindow
from loopwright.store.interface import Store


@dataclass(frozen=True)
class TriggerCheck:
    """Whether a trigger fired, why (or why not), and the evidence (endpoint, window span, rules)."""

    fired: bool
    reason: str
    evidence: dict[str, Any] = field(default_factory=dict)


def check_trigger(
    kind: str,
    endpoint: str,
    state: LoopState,
    store: Store,
    width_ms: int | None = None,
    *,
    schedule: str | None = None,
    now_ms: int | None = None,
) -> TriggerCheck:
    """Judge trigger ``kind`` for ``endpoint`` against the evidence newer than ``state.watermark_ms``.

    ``width_ms`` limits the evidence to monitoring windows of that length; ``schedule`` (a cron
    expression) and ``now_ms`` are what the ``schedule`` trigger judges.
    """
    if kind == "schedule":
        if schedule is None or now_ms is None:
            raise InvalidInput("the schedule trigger needs its cron expression and the time now")
        return _schedule(CronSchedule.parse(schedule), state, now_ms)
    if kind == "always":
        return TriggerCheck(True, "trigger 'always'")
    if kind == "never":
        return TriggerCheck(False, "trigger 'never': the loop retrains only when forced (--force)")
    mark = state.watermark_ms
    windows = [
        w
        for w in store.list_monitor_windows(endpoint, since_ms=mark, width_ms=width_ms)
        if w.closed and (mark is None or w.start_ms >= mark)
    ]
    if kind == "drift":
        return _drift(endpoint, windows, mark)
    return _alerts(endpoint, windows, mark, store)


def _drift(endpoint: str, windows: list[MonitorWindow], mark: int | None) -> TriggerCheck:
    judged = [w for w in windows if w.drifted is not None]
    if not judged:
        after = f" since the last cycle ended ({_clock(mark)})" if mark is not None else " yet"
        return TriggerCheck(
            False, f"no closed monitoring window of endpoint {endpoint!r} with a drift verdict{after}"
        )
    latest = max(judged, key=lambda w: (w.end_ms, w.start_ms))
    span = f"{_clock(latest.start_ms)} to {_clock(latest.end_ms)}"
    evidence = {
        "endpoint": endpoint,
        "window": [latest.start_ms, latest.end_ms],
        "model_versions": latest.model_versions,
    }
    if not latest.drifted:
        return TriggerCheck(False, f"no drift in the latest closed window ({span})", evidence)
    features = latest.drift.get("drifted_features") or []
    share = latest.drift.get("share_drifted")
    what = f"features {', '.join(features)}" if features else "the prediction"
    if share is not None:
        what += f", share {share:.2f}"
    return TriggerCheck(True, f"drift in window {span}: {what}", {**evidence, "drifted_features": features})


def _alerts(endpoint: str, windows: list[MonitorWindow], mark: int | None, store: Store) -> TriggerCheck:
    ends = {w.end_ms for w in windows}
    firing = sorted(
        (s for s in store.get_alert_states(endpoint).values() if s.firing),
        key=lambda s: s.rule,
    )
    if not firing:
        return TriggerCheck(False, f"no alert rule of endpoint {endpoint!r} is firing")
    fresh = [s for s in firing if mark is None or s.last_end_ms in ends]
    if not fresh:
        names = ", ".join(s.rule for s in firing)
        return TriggerCheck(
            False, f"alert(s) {names} firing, but not yet judged on a window after the last cycle ended"
        )
    rules = [s.rule for s in fresh]
    starts = [s.since_ms for s in fresh if s.since_ms is not None]
    reason = f"alert(s) firing: {', '.join(rules)}" + (f" (since {_clock(min(starts))})" if starts else "")
    evidence = {"endpoint": endpoint, "rules": rules, "window_end": max(s.last_end_ms for s in fresh)}
    return TriggerCheck(True, reason, evidence)


def _schedule(schedule: CronSchedule, state: LoopState, now_ms: int) -> TriggerCheck:
    name = f"schedule {schedule.expression!r}"
    slot = schedule.due(now_ms, state.checked_ms, state.watermark_ms)
    if slot is not None:
        return TriggerCheck(
            True, f"{name}: slot {clock(slot)}", {"schedule": schedule.expression, "slot_ms": slot}
        )
    return TriggerCheck(False, f"{name}: no slot due (next: {clock(schedule.next_slot(now_ms))})")


def _clock(ms: int | None) -> str:
    return "" if ms is None else clock(ms)
