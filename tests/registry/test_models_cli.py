"""``loopwright models …`` in a subprocess: tables on stdout, one-line errors, exit codes."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import loopwright as lw
from cli_process import one_line_error, run_cli


def cli(*args: str, columns: int = 250) -> subprocess.CompletedProcess[str]:
    # lw_env put the store/artifact URIs in os.environ; the child inherits them
    return run_cli("models", *args, env={"COLUMNS": str(columns), "LOOPWRIGHT_USER": "cli-user"})


def test_models_commands(package_run: Callable[..., str], lw_env: Path) -> None:
    run_id = package_run()
    pickled = package_run(allow_pickle=True)
    lw.register_model(f"runs:/{run_id}/model", "churn", tags={"team": "risk"})

    registered = cli("register", f"runs:/{pickled}/model", "churn", "--tag", "kind=pickled", "-d", "v2")
    assert registered.returncode == 0, registered.stderr
    assert "models:/churn/2" in registered.stdout

    alias = cli("alias", "churn", "champion", "2")
    assert alias.returncode == 0 and "models:/churn@champion → version 2" in alias.stdout
    assert lw.get_model_version_by_alias("churn", "champion").version == 2

    listed = cli("list")
    assert listed.returncode == 0 and "churn" in listed.stdout and "champion→2" in listed.stdout

    shown = cli("show", "churn")
    assert shown.returncode == 0, shown.stderr
    rows = {line.split("│")[1].strip(): line for line in shown.stdout.splitlines() if line.count("│") > 5}
    assert "pickle" in rows["2"] and "champion" in rows["2"] and "ready" in rows["2"]
    assert "pickle" not in rows["1"] and "team=risk" in rows["1"]

    version = cli("show", "churn", "--version", "2")
    assert version.returncode == 0
    assert "yes (loads only with allow_pickle=True)" in version.stdout
    assert "manifest.json" in version.stdout and "weights.bin" in version.stdout
    assert lw.get_model_version("churn", 2).manifest_digest in version.stdout  # type: ignore[operator]

    lineage = cli("lineage", "models:/churn@champion")
    assert lineage.returncode == 0, lineage.stderr
    for expected in (pickled, "params", "C = 1.0", "auc = 0.91", "train (train, 3 rows", "code:"):
        assert expected in lineage.stdout

    searched = cli("search", "alias = 'champion'")
    assert searched.returncode == 0 and "models:/churn/2" in searched.stdout
    assert "models:/churn/1" not in searched.stdout

    assert cli("alias", "churn", "champion", "--delete").returncode == 0
    assert cli("archive", "churn", "1").returncode == 0
    one_line_error(cli("alias", "churn", "champion", "1"), "version 1 of model 'churn' is archived")

    audit = cli("audit", "churn")
    assert audit.returncode == 0
    for action in ("register", "alias_set", "alias_deleted", "archived"):
        assert action in audit.stdout
    assert "cli-user" in audit.stdout
    entries = lw.list_audit_log("churn")
    assert [e.actor for e in entries if e.action != "register" or e.version == 2] == ["cli-user"] * 4


def test_models_errors_are_one_line(package_run: Callable[..., str], lw_env: Path) -> None:
    run_id = package_run()
    lw.register_model(f"runs:/{run_id}/model", "churn")
    # a narrow terminal must not wrap the message over two lines
    one_line_error(cli("show", "nope", columns=40), "registered model 'nope' not found")
    one_line_error(cli("show", "churn", "--version", "5"), "registered model 'churn' has no version 5")
    one_line_error(cli("alias", "churn", "champion"), "give the version")
    one_line_error(cli("alias", "churn", "champion", "--delete"), "has no alias 'champion'")
    one_line_error(cli("lineage", "churn"), "invalid model URI")
    one_line_error(cli("register", f"runs:/{run_id}/nothing", "churn"), "has no model at 'nothing'")
    one_line_error(cli("search", "version = 'x'"), "numeric")
    one_line_error(cli("audit", "ghost"), "registered model 'ghost' not found")
