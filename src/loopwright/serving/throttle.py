"""Log lines that repeat (a failing alias polled every 2 s, a store down for an hour) once a minute.

Examples
--------
>>> throttle = LogThrottle(every=60.0)
>>> throttle.allow("models:/churn@champion", "version 3: PermissionDenied", now=0.0)
(True, 0)
>>> throttle.allow("models:/churn@champion", "version 3: PermissionDenied", now=2.0)
(False, 0)
>>> throttle.allow("models:/churn@champion", "version 4: NotFound", now=4.0)  # a new failure
(True, 1)
>>> throttle.allow("models:/churn@champion", "version 4: NotFound", now=65.0)
(True, 0)
"""

from __future__ import annotations

import threading
import time
from collections.abc import Hashable


class LogThrottle:
    """Lets a message through once per key per ``every`` seconds, or at once when it changes."""

    def __init__(self, every: float = 60.0):
        self.every = every
        self._last: dict[Hashable, tuple[str, float, int]] = {}  # key -> (message, logged at, held back)
        self._lock = threading.Lock()

    def allow(self, key: Hashable, message: str, now: float | None = None) -> tuple[bool, int]:
        """Whether to log ``message`` for ``key`` now, and how many lines were held back before it."""
        now = time.monotonic() if now is None else now
        with self._lock:
            last = self._last.get(key)
            if last is not None and last[0] == message and now - last[1] < self.every:
                self._last[key] = (last[0], last[1], last[2] + 1)
                return False, 0
            self._last[key] = (message, now, 0)
            return True, last[2] if last is not None else 0

    def forget(self, key: Hashable) -> None:
        """The condition is over: the next message for ``key`` is logged at once."""
        with self._lock:
            self._last.pop(key, None)
