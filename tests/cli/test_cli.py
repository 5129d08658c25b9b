"""The CLI mirrors the API, prints tables, and turns errors into one line with a non-zero exit."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import loopwright as lw
from cli_process import run_cli


def cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, env={"LOOPWRIGHT_HOME": str(home)})


def test_version() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "loopwright.cli", "--version"], capture_output=True, text=True
    )
    assert result.returncode == 0 and lw.__version__ in result.stdout


def test_experiments_runs_and_errors(sqlite_env: Path) -> None:
    lw.set_experiment("churn")
    with lw.start_run(name="baseline") as run:
        lw.log_metric("auc", 0.93)
        lw.log_param("C", 0.5)
    lw.flush()
    listed = cli(sqlite_env, "experiments", "list")
    assert listed.returncode == 0 and "churn" in listed.stdout
    runs = cli(sqlite_env, "runs", "list", "--experiment", "churn", "--filter", "metrics.auc > 0.9")
    assert runs.returncode == 0 and "baseline" in runs.stdout and "0.93" in runs.stdout
    shown = cli(sqlite_env, "runs", "show", run.id)
    assert shown.returncode == 0 and "params" in shown.stdout and "0.5" in shown.stdout
    missing = cli(sqlite_env, "runs", "show", "nope")
    assert missing.returncode == 1
    assert "not found" in missing.stderr and "Traceback" not in missing.stderr
    bad = cli(sqlite_env, "runs", "list", "--filter", "metrics.auc > 'x'")
    assert bad.returncode == 1 and "numeric" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1


def test_db_upgrade_and_gc(tmp_path: Path) -> None:
    home = tmp_path / "fresh"
    result = cli(home, "db", "upgrade")
    assert result.returncode == 0 and "upgraded store" in result.stdout
    assert cli(home, "db", "upgrade").stdout.startswith("store already at revision")
    gc = cli(home, "gc")
    assert gc.returncode == 0 and "removed 0 runs" in gc.stdout
