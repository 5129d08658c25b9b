"""The code version a run was started from: entry script and git commit, as run tags.

Recorded at run start by :meth:`loopwright.tracking.Client.create_run` so a registered
model can be traced to the exact code that trained it. Looking it up never fails a run:
no git, no repository or a slow git all just leave the commit tag out.

Examples
--------
>>> tags = source_tags()
>>> SOURCE_NAME in tags
True
>>> set(tags) <= {SOURCE_NAME, SOURCE_GIT_COMMIT}
True
"""

from __future__ import annotations

import functools
import logging
import os
import subprocess
import sys
from pathlib import Path

log = logging.getLogger(__name__)

SOURCE_NAME = "loopwright.source.name"
SOURCE_GIT_COMMIT = "loopwright.source.git_commit"
GIT_TIMEOUT_S = 2.0


def entry_point() -> str:
    """The script the process runs (absolute path), ``-c`` or ``<interactive>``."""
    main = sys.modules.get("__main__")
    main_file = getattr(main, "__file__", None)
    if main_file:
        # "<stdin>" and similar pseudo-files are names, not paths
        return main_file if main_file.startswith("<") else str(Path(main_file).resolve())
    argv0 = sys.argv[0] if sys.argv else ""
    return argv0 or "<interactive>"


def _code_dirs() -> list[str]:
    """Where the code may live: the entry script's folder first, then the working directory."""
    script = Path(entry_point())
    folders = [str(script.parent)] if script.is_file() else []
    return [*folders, os.getcwd()]


@functools.cache
def git_commit(folder: str) -> str | None:
    """``git rev-parse HEAD`` in ``folder``, or ``None`` outside a repository (cached per process)."""
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT_S,
            env={**os.environ, "GIT_OPTIONAL_LOCKS": "0", "GIT_TERMINAL_PROMPT": "0"},
            check=False,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        log.debug("no git commit for %s: %s", folder, exc)
        return None
    commit = result.stdout.strip()
    if result.returncode != 0 or len(commit) not in (40, 64):
        return None
    return commit


def source_tags() -> dict[str, str]:
    """Tags describing the code version of this process (never raises)."""
    try:
        tags = {SOURCE_NAME: entry_point()}
        commit = next(filter(None, (git_commit(folder) for folder in _code_dirs())), None)
        if commit:
            tags[SOURCE_GIT_COMMIT] = commit
        return tags
    except Exception:  # a run must start even if the environment is odd
        log.debug("could not determine the code version", exc_info=True)
        return {}
