"""Which process owns something, and whether that process is gone: for runs and temp folders left by
a killed process.

A pid means a process only within one *pid space*: one boot of one machine and one pid namespace
(containers sharing a store or a ``/tmp`` volume each count pids from 1). Ownership is therefore
recorded as (pid space, pid), and a process is judged gone only from inside its own pid space.

Examples
--------
>>> import os
>>> process_gone(os.getpid(), pid_space())
False
>>> process_gone(os.getpid(), "another machine")
False
"""

from __future__ import annotations

import functools
import hashlib
import os
import socket
from pathlib import Path


@functools.cache
def pid_space() -> str:
    """This process's pid space: boot id and pid namespace on Linux, else the host name."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        return f"{boot}/{os.readlink('/proc/self/ns/pid')}"
    except OSError:
        return f"host:{socket.gethostname()}"


def pid_space_tag() -> str:
    """A short fixed-width stand-in for :func:`pid_space` (fits a folder name)."""
    return hashlib.sha256(pid_space().encode()).hexdigest()[:8]


def process_gone(pid: int, space: str) -> bool:
    """True only when ``space`` is this pid space and no process ``pid`` exists in it.

    ``space`` is :func:`pid_space` or :func:`pid_space_tag` as the owner recorded it. A reused pid
    reads as alive: the owner's records stay until that process ends too (never removed early).
    """
    if space not in (pid_space(), pid_space_tag()) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # exists, owned by another user
        return False
    return False
