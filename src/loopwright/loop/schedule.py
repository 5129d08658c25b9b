"""Cron schedules for the ``schedule`` trigger: five fields (minute hour day-of-month month
day-of-week) evaluated in UTC, parsed and matched by ``croniter``.

A slot is the minute a schedule names (``0 3 * * 1``: Mondays 03:00 UTC). The loop fires for a
slot it has not looked past yet: one that falls after its previous look (``LoopState.checked_ms``),
or, on its first look, in the current minute — so a controller stepping every 5 minutes still
catches 03:00 at 03:02, a controller that was down catches up once, and no slot fires twice.

Examples
--------
>>> schedule = CronSchedule.parse("0 3 * * 1")
>>> clock(schedule.latest_slot(1_767_582_120_000))  # Monday 2026-01-05 03:02 UTC
'2026-01-05 03:00:00 UTC'
>>> clock(schedule.next_slot(1_767_582_120_000))
'2026-01-12 03:00:00 UTC'
>>> CronSchedule.parse("0 25 * * *")
Traceback (most recent call last):
...
loopwright.errors.InvalidInput: schedule '0 25 * * *' is not a cron expression: [0 25 * * *] is not acceptable, out of range
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from croniter import CroniterError, croniter

from loopwright.errors import InvalidInput

MINUTE_MS = 60_000
FIELDS = "minute hour day-of-month month day-of-week"


@dataclass(frozen=True)
class CronSchedule:
    """A validated five-field cron expression, evaluated in UTC."""

    expression: str

    @classmethod
    def parse(cls, expression: object) -> CronSchedule:
        """Check ``expression`` is a five-field cron expression; ``InvalidInput`` naming the problem."""
        if not isinstance(expression, str) or len(expression.split()) != 5:
            raise InvalidInput(f"schedule {expression!r} must be a cron expression of five fields ({FIELDS})")
        try:
            croniter(expression)
        except (CroniterError, ValueError) as error:
            raise InvalidInput(f"schedule {expression!r} is not a cron expression: {error}") from None
        return cls(" ".join(expression.split()))

    def latest_slot(self, now_ms: int) -> int:
        """The latest slot at or before ``now_ms`` (ms, minute-aligned)."""
        after = datetime.fromtimestamp((now_ms // MINUTE_MS + 1) * MINUTE_MS / 1000, UTC)
        # croniter's get_prev is strictly before its start: start one minute past now's minute
        return int(croniter(self.expression, after).get_prev(datetime).timestamp() * 1000)

    def next_slot(self, now_ms: int) -> int:
        """The first slot after ``now_ms``."""
        start = datetime.fromtimestamp(now_ms / 1000, UTC)
        return int(croniter(self.expression, start).get_next(datetime).timestamp() * 1000)

    def due(self, now_ms: int, checked_ms: int | None, ended_ms: int | None) -> int | None:
        """The slot to fire for now, if any: the latest slot, when it falls after the previous look
        (first look: within the current minute) and not before the last cycle ended (``ended_ms``:
        a slot that passed while a cycle ran is not retrained for again)."""
        slot = self.latest_slot(now_ms)
        after = checked_ms if checked_ms is not None else now_ms // MINUTE_MS * MINUTE_MS - 1
        if slot > after and (ended_ms is None or slot >= ended_ms):
            return slot
        return None


def clock(ms: int) -> str:
    """A UTC time as the loop's reasons write it."""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
