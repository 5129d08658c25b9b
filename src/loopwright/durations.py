"""Durations as people write them (``"30s"``, ``"5m"``, ``"1h"``) in milliseconds.

Shared by monitoring windows, the loop's schedules and ``loopwright runs mark-failed --stale``.

Examples
--------
>>> parse_duration("1h"), parse_duration("90s"), parse_duration("250ms")
(3600000, 90000, 250)
>>> is_duration("1d"), is_duration("2026-01-01")
(True, False)
>>> format_duration(83_000), format_duration(7_116_500)
('1m 23s', '1h 58m')
"""

from __future__ import annotations

import re
from datetime import timedelta

from loopwright.errors import InvalidInput

_UNITS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 7 * 86_400_000}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)\s*$")


def is_duration(value: str) -> bool:
    """Whether ``value`` is written as a duration (a number and a unit)."""
    return _DURATION.match(value) is not None


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


def format_duration(ms: int) -> str:
    """A duration for people, to its two largest units (``500ms``, ``4.2s``, ``1m 23s``, ``1h 58m``,
    ``3d 4h``); the inverse of :func:`parse_duration` up to rounding.

    >>> [format_duration(ms) for ms in (500, 4_200, 60_000, 90_061_000)]
    ['500ms', '4.2s', '1m 0s', '1d 1h']
    """
    if ms < 1000:
        return f"{ms}ms"
    if ms < 60_000:
        return f"{ms / 1000:.1f}s"
    seconds = ms // 1000
    if seconds >= 86_400:
        return f"{seconds // 86_400}d {seconds % 86_400 // 3600}h"
    if seconds >= 3600:
        return f"{seconds // 3600}h {seconds % 3600 // 60}m"
    return f"{seconds // 60}m {seconds % 60}s"
