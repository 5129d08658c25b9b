"""Durations (``"1h"``, ``"5m"``) and the fixed grid of monitoring windows.

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

import re
from collections.abc import Iterator
from datetime import datetime, timedelta

from loopwright.errors import InvalidInput
from loopwright.serving.prediction_log import to_ms
from loopwright.store.entities import now_ms

_UNITS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 7 * 86_400_000}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)\s*$")

TimeBound = datetime | str | int | float | timedelta


def parse_duration(value: str | int | float | timedelta, *, allow_zero: bool = False) -> int:
    """A duration in milliseconds: ``"30s"``, ``"5m"``, ``"1h"``, ``"1d"``, ``"1w"``, a ``timedelta``,
    or a number of milliseconds. Negative durations are refused, and zero unless ``allow_zero``."""
    if isinstance(value, timedelta):
        ms = int(value.total_seconds() * 1000)
    elif isinstance(value, bool):
        raise InvalidInput(f"not a duration: {value!r}")
    elif isinstance(value, int | float):
        ms = int(value)
    else:
        match = _DURATION.match(str(value))
        if match is None:
            raise InvalidInput(
                f"not a duration: {value!r} (use a number and a unit: 500ms, 30s, 5m, 1h, 1d, 1w)"
            )
        ms = int(float(match.group(1)) * _UNITS[match.group(2)])
    if ms < 0 or (ms == 0 and not allow_zero):
        raise InvalidInput(f"a duration must be positive, got {value!r}")
    return ms


def time_ms(value: TimeBound | None, now: int | None = None) -> int | None:
    """A time bound in UTC milliseconds: what ``get_predictions`` takes (datetime, ISO string, epoch
    seconds or ms, ``timedelta`` ago) plus duration strings meaning "that long ago" (``"6h"``) and
    epoch numbers as a string (the CLI).

    >>> time_ms("6h", now=6 * 3_600_000), time_ms("1767225600000")
    (0, 1767225600000)
    """
    if isinstance(value, str) and _DURATION.match(value):
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
