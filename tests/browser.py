"""Headless Chromium for the HTML report tests (monitoring, evaluation): screenshots, DOM dumps, console errors.

Test modules import it as ``import browser`` (``tests/`` is on ``sys.path`` through the root conftest).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or "/usr/bin/chromium"
CONSOLE = re.compile(r":CONSOLE[^\]]*\] (.*)")


def chromium(url: str, *args: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """Run headless Chromium on ``url`` with extra flags (``--screenshot=…``, ``--dump-dom``), logging to stderr."""
    if not Path(CHROMIUM).exists():
        pytest.fail("headless Chromium is needed for the report test: apt-get install -y chromium")
    profile = tmp_path / f"chromium-{len(list(tmp_path.iterdir()))}"
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={profile}",
        "--enable-logging=stderr",
        "--v=0",
        "--window-size=1400,2400",
    ]
    return subprocess.run(
        [CHROMIUM, *flags, *args, url], capture_output=True, text=True, timeout=120, check=False
    )


def console_messages(stderr: str) -> list[str]:
    """The page's console messages (errors, uncaught exceptions, logs) from Chromium's stderr."""
    return [m.group(1) for line in stderr.splitlines() if (m := CONSOLE.search(line))]
