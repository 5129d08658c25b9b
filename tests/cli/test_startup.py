"""Start-up stays cheap: ``import loopwright`` and ``loopwright --version``/``--help`` load no heavy library.

The issue's targets are 0.5 s for the import and 0.3 s for the CLI's version and help; these tests fail
on a regression past twice those (as ``python -X importtime`` counts, in a fresh process) and, more
robustly, when pandas, scikit-learn, SQLAlchemy or numpy are imported at all.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from cli_process import run_cli_here
from loopwright.cli.main import SUBCOMMANDS, load_subcommand

HEAVY = ("pandas", "sklearn", "sqlalchemy", "numpy", "scipy", "pyarrow")


def _import_profile(*args: str) -> tuple[dict[str, float], str]:
    """Cumulative import seconds per module of a fresh ``python -X importtime ARGS`` (and its stdout)."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", *args], capture_output=True, text=True, timeout=120, check=True
    )
    seconds = {}
    for line in done.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            _, cumulative, name = line.split("|")
            if cumulative.strip().isdigit():
                seconds[name.strip()] = int(cumulative) / 1e6
    return seconds, done.stdout


def test_import_loopwright_loads_no_heavy_library() -> None:
    seconds, _ = _import_profile("-c", "import loopwright")
    assert not [m for m in HEAVY if m in seconds], sorted(m for m in HEAVY if m in seconds)
    assert seconds["loopwright"] < 2 * 0.5


@pytest.mark.parametrize("flag", ["--version", "--help"])
def test_cli_version_and_help_load_no_command_module(flag: str) -> None:
    seconds, out = _import_profile("-m", "loopwright.cli", flag)
    assert out.strip()
    assert not [m for m in HEAVY if m in seconds]
    assert not [
        m
        for m in seconds
        if m.startswith("loopwright.cli.")
        and m != "loopwright.cli.main"
        and m != "loopwright.cli.render"
        and m != "loopwright.cli.__main__"
    ]
    assert seconds["loopwright.cli.main"] < 2 * 0.3


@pytest.mark.parametrize("name", list(SUBCOMMANDS))
def test_each_lazy_command_loads_with_the_help_line_the_root_lists(name: str) -> None:
    command = load_subcommand(name)
    assert command.name == name
    assert (command.short_help or command.help or "").split("\n")[0].strip() == SUBCOMMANDS[name][2]


def test_a_lazy_group_dispatches(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli_here(capsys, "db", "--help")
    assert code == 0 and "Metadata store schema." in out
