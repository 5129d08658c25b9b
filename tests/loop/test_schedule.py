"""The ``schedule`` trigger: five-field cron in UTC, at most one cycle per slot, a missed slot caught
up once, a slot that passed during a cycle not retrained for again; the loop config's errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from loop_scenario import config, register_champion, sample

import loopwright as lw
from loopwright.errors import InvalidInput
from loopwright.loop import CronSchedule, LoopConfig

MINUTE = 60_000
MONDAY_0300 = 1_767_582_000_000  # 2026-01-05 03:00 UTC
WEEK = 7 * 24 * 60 * MINUTE
WEEKLY = CronSchedule.parse("0 3 * * 1")


def test_slots_are_minutes_of_the_utc_calendar() -> None:
    assert WEEKLY.latest_slot(MONDAY_0300) == MONDAY_0300
    assert WEEKLY.latest_slot(MONDAY_0300 + 59_999) == MONDAY_0300
    assert WEEKLY.latest_slot(MONDAY_0300 - 1) == MONDAY_0300 - WEEK
    assert WEEKLY.next_slot(MONDAY_0300) == MONDAY_0300 + WEEK
    # day-of-month and day-of-week both set: either matches (cron's rule); 2026-01-01 is a Thursday
    either = CronSchedule.parse("30 12 1 * 1")
    assert (
        either.latest_slot(MONDAY_0300) == MONDAY_0300 - 4 * 24 * 60 * MINUTE + 9 * 60 * MINUTE + 30 * MINUTE
    )
    assert CronSchedule.parse("  */15   *  * * *  ").expression == "*/15 * * * *"


def test_a_slot_fires_once_from_the_first_look_after_it() -> None:
    # first look ever: only the current minute counts (no retraining for last week's slot at start-up)
    assert WEEKLY.due(MONDAY_0300 + 30_000, None, None) == MONDAY_0300
    assert WEEKLY.due(MONDAY_0300 + 2 * MINUTE, None, None) is None
    # a controller stepping every 5 minutes looked at 02:58, then at 03:03: the 03:00 slot fires
    assert WEEKLY.due(MONDAY_0300 + 3 * MINUTE, MONDAY_0300 - 2 * MINUTE, None) == MONDAY_0300
    # looked at 03:00:20 (and fired): not again in that minute, nor later
    assert WEEKLY.due(MONDAY_0300 + 50_000, MONDAY_0300 + 20_000, None) is None
    assert WEEKLY.due(MONDAY_0300 + 3 * 24 * 60 * MINUTE, MONDAY_0300 + 20_000, None) is None
    # down for two weeks: the latest slot fires once
    assert WEEKLY.due(MONDAY_0300 + 2 * WEEK + MINUTE, MONDAY_0300 - MINUTE, None) == MONDAY_0300 + 2 * WEEK
    # the slot passed while a cycle (started 02:58 by drift) ran until 03:05: not retrained for again
    assert WEEKLY.due(MONDAY_0300 + 6 * MINUTE, MONDAY_0300 - 2 * MINUTE, MONDAY_0300 + 5 * MINUTE) is None


@pytest.mark.parametrize(
    ("trigger", "message"),
    [
        ({"schedule": "0 3 * *"}, "must be a cron expression of five fields (minute hour"),
        ({"schedule": "0 0 3 * * 1"}, "must be a cron expression of five fields"),
        ({"schedule": "0 25 * * 1"}, "schedule '0 25 * * 1' is not a cron expression"),
        ({"schedule": 3}, "schedule 3 must be a cron expression"),
        ({"cron": "0 3 * * 1"}, "trigger as a mapping takes one key, schedule"),
        ("schedule", "trigger must be one of drift, alerts, always, never or {schedule: CRON}"),
    ],
)
def test_bad_schedules_are_named(trigger: object, message: str) -> None:
    doc = {"model": "churn", "pipeline": "t:p", "policy": {}, "holdout": "h.parquet", "target": "y"}
    with pytest.raises(InvalidInput, match=r"^loop config: trigger") as error:
        LoopConfig.from_dict({**doc, "trigger": trigger}, check_files=False)
    assert message in str(error.value)


def test_the_loop_retrains_on_its_schedule_once_per_slot(sqlite_env: Path, tmp_path: Path) -> None:
    register_champion(sample(3000, seed=1))
    loop = lw.Loop(config(tmp_path, trigger={"schedule": "0 3 * * 1"}))
    sunday = loop.step(now=MONDAY_0300 - 24 * 60 * MINUTE)
    assert (sunday.triggered, sunday.reason) == (
        False,
        "schedule '0 3 * * 1': no slot due (next: 2026-01-05 03:00:00 UTC)",
    )
    monday = loop.step(now=MONDAY_0300 + 20_000)
    assert monday.triggered and monday.state == "promoted"
    assert monday.transitions[0].reason == "schedule '0 3 * * 1': slot 2026-01-05 03:00:00 UTC"
    assert monday.transitions[0].details["trigger"] == {"schedule": "0 3 * * 1", "slot_ms": MONDAY_0300}
    for later in (MONDAY_0300 + 50_000, MONDAY_0300 + 10 * MINUTE, MONDAY_0300 + 3 * 24 * 60 * MINUTE):
        assert not loop.step(now=later).triggered
    # a week later at 03:04 (the controller steps every 5 minutes): the next slot fires; the data did
    # not change, so the cached pipeline returns the same package and the cycle ends "nothing new"
    next_week = loop.step(now=MONDAY_0300 + WEEK + 4 * MINUTE)
    assert next_week.triggered and next_week.state == "failed" and "nothing new" in next_week.reason
    assert [t.cycle for t in lw.list_loop_history("churn") if t.to_state == "retraining"] == [1, 2]
