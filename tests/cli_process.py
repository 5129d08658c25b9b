"""``loopwright ARGS`` in a new process, as a user's shell runs it (and a served one awaited).

Test modules import it as ``from cli_process import run_cli`` (``tests/`` is on ``sys.path``
through the root conftest).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

import httpx
import pytest


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


def run_cli_here(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """The ``loopwright`` entry point in this process (no import cost): (exit code, stdout, stderr)."""
    from loopwright.cli.main import main

    argv = sys.argv
    sys.argv = ["loopwright", *args]
    try:
        with pytest.raises(SystemExit) as exit_info:
            main()
    finally:
        sys.argv = argv
    out, err = capsys.readouterr()
    code = exit_info.value.code
    return (code if isinstance(code, int) else 1), out, err


def assert_one_line_error(code: int, err: str, *needles: str, exit_code: int = 1) -> None:
    """A refused command: ``exit_code``, one ``error: ...`` line on stderr naming ``needles``, no traceback."""
    lines = err.strip().splitlines()
    assert code == exit_code, err
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err, err
    for needle in needles:
        assert needle in lines[0], err


def one_line_error(result: subprocess.CompletedProcess[str], *needles: str) -> None:
    """:func:`assert_one_line_error` for a finished process."""
    assert_one_line_error(result.returncode, result.stderr, *needles)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(url: str, proc: subprocess.Popen[str], timeout: float = 120) -> None:
    """Wait until the server ``proc`` started answers ``GET /v2/health/ready``; fail if it exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server exited: {proc.communicate()[1][-2000:]}")
        try:
            if httpx.get(f"{url}/v2/health/ready", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError("server did not become ready")


class PlatformServer:
    """``loopwright server ARGS`` in a new process on a free loopback port, ready when constructed."""

    def __init__(self, *args: str, env: Mapping[str, str] | None = None, timeout: float = 60):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        full = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p), **(env or {})}
        self.log_file = tempfile.NamedTemporaryFile("w+", prefix="loopwright-server-", suffix=".log")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "loopwright.cli", "server", "--port", str(self.port), *args],
            env=full,
            stdout=self.log_file,
            stderr=subprocess.STDOUT,
            text=True,
        )
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited: {self.log()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise AssertionError("server did not become ready")
            time.sleep(0.1)

    def log(self) -> str:
        """What it wrote so far (stdout and stderr)."""
        return Path(self.log_file.name).read_text()

    def stop(self) -> str:
        """Stop it (SIGTERM, then SIGKILL); what it wrote."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        text = self.log()
        self.log_file.close()
        return text
