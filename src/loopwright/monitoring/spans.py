"""Time bounds and the fixed grid of monitoring windows (durations come from :mod:`loopwright.durations`).

Windows are aligned to the UTC epoch: a ``1h`` window always starts on the hour, a ``1d`` one at
midnight UTC, so every run (and every process) cuts the same windows and storing a window again
replaces it instead of adding an overlapping one.

Examples
--------
>>> parse_duration("1h"), parse_duration("90s"), parse_duration("250ms")
(3600000, 90000, 250)
>>> [(s, e) for s, e in window_grid(3_600_000 + 5, 3 * 3_600_000, 3_600_000)]
[(3600000, 7200000), (7200000, 10800000)]
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

from loopwright.durations import is_duration, parse_duration
from loopwright.serving.prediction_log import to_ms
from loopwright.store.entities import now_ms

TimeBound = datetime | str | int | float | timedelta


def time_ms(value: TimeBound | None, now: int | None = None) -> int | None:
    """A time bound in UTC milliseconds: what ``list_predictions`` takes (datetime, ISO string, epoch
    seconds or ms, ``timedelta`` ago) plus duration strings meaning "that long ago" (``"6h"``) and
    epoch numbers as a string (the CLI).

    >>> time_ms("6h", now=6 * 3_600_000), time_ms("1767225600000")
    (0, 1767225600000)
    """
    if isinstance(value, str) and is_duration(value):
        return (now if now is not None else now_ms()) - parse_duration(value)
    if isinstance(value, str) and value.strip().isdigit():
        return to_ms(int(value))
    if isinstance(value, timedelta) and now is not None:
        return now - int(value.total_seconds() * 1000)
    return to_ms(value)


def floor(ms: int, width_ms: int) -> int:
    """Start of the grid window holding ``ms``."""
    return ms - ms % width_ms


def window_grid(since_ms: int, until_ms: int, width_ms: int) -> Iterator[tuple[int, int]]:
    """``(start, end)`` of every grid window overlapping ``[since_ms, until_ms)``, oldest first."""
    start = floor(since_ms, width_ms)
    while start < until_ms:
        yield start, start + width_ms
        start += width_ms
