"""Runs nobody will end: their process is gone, or they have been quiet for too long.

A run records its owner when it starts (or resumes): system tags ``loopwright.owner.host``,
``loopwright.owner.pid`` and ``loopwright.owner.pid_space`` (see :mod:`loopwright.processes`).
:meth:`loopwright.tracking.Client.mark_failed_runs` ends the runs :func:`find_abandoned` picks.

Examples
--------
>>> from loopwright.store import Run
>>> from loopwright.store.entities import ms_to_datetime
>>> quiet = Run("r1", "e", "train", "running", ms_to_datetime(0), last_activity=ms_to_datetime(0))
>>> [found.reason for found in find_abandoned([quiet], stale_ms=3_600_000, now=7_200_000)]
['no activity for 2h (since 1970-01-01 00:00:00 UTC; stale after 1h)']
"""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from loopwright.processes import pid_space, process_gone
from loopwright.store import Run

OWNER_HOST = "loopwright.owner.host"
OWNER_PID = "loopwright.owner.pid"
OWNER_PID_SPACE = "loopwright.owner.pid_space"


def owner_tags() -> dict[str, str]:
    """The system tags naming this process as a run's owner."""
    return {OWNER_HOST: socket.gethostname(), OWNER_PID: str(os.getpid()), OWNER_PID_SPACE: pid_space()}


@dataclass(frozen=True)
class AbandonedRun:
    """A running run that nobody will end, and why; ``run`` as found (dry run) or as ended.

    Examples
    --------
    >>> import loopwright as lw
    >>> from loopwright.store.entities import ms_to_datetime
    >>> run = lw.Run("r1", "e", "train", "running", ms_to_datetime(0), last_activity=ms_to_datetime(0))
    >>> found = lw.AbandonedRun(run, "no activity for 2h")
    >>> found.run.status, found.reason
    ('running', 'no activity for 2h')
    """

    run: Run
    reason: str


def find_abandoned(running: Sequence[Run], stale_ms: int | None, now: int) -> list[AbandonedRun]:
    """The runs among ``running`` whose owner is gone (judged on its own host only), or, with
    ``stale_ms``, that have had no activity for that long. A parent counts as active while any of
    its running descendants is (a tuning run waits quietly for its trials)."""
    own = {run.id: last_activity_ms(run) for run in running}
    latest = dict(own)
    parents = {run.id: run.parent_id for run in running}
    for run_id, activity in own.items():
        parent, seen = parents[run_id], {run_id}
        while parent in latest and parent not in seen:
            latest[parent] = max(latest[parent], activity)
            seen.add(parent)
            parent = parents[parent]
    found = []
    for run in running:
        owner_gone = _owner_gone(run)
        if owner_gone is not None:
            found.append(AbandonedRun(run, owner_gone))
        elif stale_ms is not None and now - latest[run.id] > stale_ms:
            since = datetime.fromtimestamp(latest[run.id] / 1000, run.start_time.tzinfo)
            reason = (
                f"no activity for {_span(now - latest[run.id])} "
                f"(since {since:%Y-%m-%d %H:%M:%S %Z}; stale after {_span(stale_ms)})"
            )
            found.append(AbandonedRun(run, reason))
    return found


def last_activity_ms(run: Run) -> int:
    """The run's last write (its start if none) in epoch milliseconds."""
    return int((run.last_activity or run.start_time).timestamp() * 1000)


def _owner_gone(run: Run) -> str | None:
    tags = run.system_tags
    pid, space = tags.get(OWNER_PID, ""), tags.get(OWNER_PID_SPACE, "")
    if pid.isdigit() and process_gone(int(pid), space):
        return f"its process (pid {pid} on {tags.get(OWNER_HOST, 'this host')}) is gone"
    return None


def _span(ms: int) -> str:
    """``2h 5m`` / ``45s``: the two largest units."""
    seconds = ms // 1000
    parts = [
        (seconds // 86400, "d"),
        (seconds // 3600 % 24, "h"),
        (seconds // 60 % 60, "m"),
        (seconds % 60, "s"),
    ]
    shown = [f"{value}{unit}" for value, unit in parts if value][:2]
    return " ".join(shown) or "0s"
