"""``loopwright ARGS`` in a new process, as a user's shell runs it.

Test modules import it as ``from cli_process import run_cli`` (``tests/`` is on ``sys.path``
through the root conftest).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path


def run_cli(
    *args: str,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 180,
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m loopwright.cli ARGS`` and capture its output.

    The child inherits this environment (the fixtures' store and artifact URIs) updated by ``env``,
    gets this process's ``sys.path`` as ``PYTHONPATH`` (so pipelines defined in test modules
    import), a wide terminal (tables stay unwrapped) and no ``LOOPWRIGHT_DEBUG`` unless ``env``
    sets it (errors must be one line).
    """
    full = {**os.environ, "COLUMNS": "250", "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    full.pop("LOOPWRIGHT_DEBUG", None)
    full.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "loopwright.cli", *args],
        env=full,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
