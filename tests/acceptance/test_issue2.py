"""Acceptance for issue 2 (foundation): the issue's tracking snippet and CLI, run as written.

Every "bad input" the issue names gets a clear error: an exception of the right ``LoopwrightError``
subclass naming the problem in Python, one line and a non-zero exit on the command line.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import loopwright as lw
from cli_process import assert_one_line_error, run_cli, run_cli_here


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """``loopwright ARGS`` in a new process (the store/artifact URIs come from the environment)."""
    return run_cli(*args, cwd=cwd)


def log_issue_snippet(folder: Path) -> str:
    """The issue's snippet verbatim (report.html a file; a folder too, as its comment says)."""
    (folder / "report.html").write_text("<html><body>report</body></html>")
    (folder / "plots").mkdir()
    (folder / "plots" / "roc.png").write_bytes(b"\x89PNG fake")
    df = pd.DataFrame({"age": [31, 45, 52], "plan": ["a", "b", "a"], "churned": [0, 1, 0]})
    lw.set_experiment("churn")
    with lw.start_run(name="baseline", tags={"team": "risk"}) as run:
        lw.log_params({"C": 1.0, "penalty": "l2"})
        lw.log_param("seed", 7)
        lw.log_metric("auc", 0.91, step=3)
        lw.log_metrics({"acc": 0.88, "f1": 0.80})
        lw.log_artifact("report.html")  # a file or a folder
        lw.log_artifact("plots")
        lw.log_dict({"threshold": 0.4}, "config.json")
        lw.log_dataset(df, name="train")  # fingerprint (digest, schema, row count), stored as lineage input
    return run.id


def test_tracking_snippet_as_written(lw_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    run_id = log_issue_snippet(tmp_path)

    run = lw.get_run(run_id)
    assert (run.id, run.name, run.status, run.parent_id) == (run_id, "baseline", "finished", None)
    assert run.experiment_id == lw.get_experiment("churn").id
    assert run.params == {"C": "1.0", "penalty": "l2", "seed": "7"}
    assert run.metrics == {"auc": 0.91, "acc": 0.88, "f1": 0.80}
    assert run.tags == {"team": "risk"}
    assert run.start_time is not None and run.end_time is not None and run.end_time >= run.start_time
    assert [(p.step, p.value) for p in lw.list_metric_history(run_id, "auc")] == [(3, 0.91)]
    assert lw.list_metric_history(run_id, "auc")[0].timestamp > 0
    assert lw.active_run() is None

    names = {a.path for a in lw.list_artifacts(run_id)}
    assert {"report.html", "plots/roc.png", "config.json"} <= names
    assert lw.load_dict(run_id, "config.json") == {"threshold": 0.4}
    datasets = lw.get_client().store.get_dataset_inputs(run_id)
    assert [(d.name, d.n_rows) for d in datasets] == [("train", 3)]
    assert datasets[0].digest and datasets[0].schema

    frame = lw.search_runs(
        experiment="churn",
        filter="metrics.auc > 0.9 and params.penalty = 'l2'",
        order_by=["metrics.auc DESC"],
        max_results=50,
    )
    assert list(frame["run_id"]) == [run_id]
    row = frame.iloc[0]
    assert (row["name"], row["status"], row["params.penalty"], row["tags.team"]) == (
        "baseline",
        "finished",
        "l2",
        "risk",
    )
    assert row["metrics.auc"] == 0.91
    listed = lw.search_runs(experiment="churn", output="list")
    assert [r.id for r in listed] == [run_id] and isinstance(listed[0], lw.Run)
    assert lw.search_runs(experiment="churn", filter="metrics.auc > 0.95").empty


@pytest.mark.parametrize(
    "bad, problem",
    [
        ("metrics.auc >> 0.9", "expected a number or a quoted string"),
        ("metrics.auc > 0.9 and", "ends too early"),
        ("metrics.auc > 0.9 params.penalty = 'l2'", "expected AND"),
        ("metrics.auc ~ 0.9", "cannot parse"),
        ("metrics.auc > 'high'", "numeric"),
        ("colour = 'red'", "unknown run attribute 'colour'"),
        ("metrics.auc > 0.9 or params.C = '1'", "OR is not supported"),
    ],
)
def test_malformed_filter_quotes_the_whole_filter(
    sqlite_env: Path, capsys: pytest.CaptureFixture[str], bad: str, problem: str
) -> None:
    lw.set_experiment("churn")
    with pytest.raises(lw.InvalidInput) as error:
        lw.search_runs(experiment="churn", filter=bad)
    assert repr(bad) in str(error.value) and problem in str(error.value)
    code, _, err = run_cli_here(capsys, "runs", "list", "--experiment", "churn", "--filter", bad)
    assert_one_line_error(code, err, repr(bad), problem)


def test_malformed_order_by_is_named(sqlite_env: Path) -> None:
    lw.set_experiment("churn")
    with pytest.raises(lw.InvalidInput, match=r"order_by 'metrics.auc sideways'.*ASC\|DESC"):
        lw.search_runs(experiment="churn", order_by=["metrics.auc sideways"])


@pytest.mark.parametrize(
    "name, problem",
    [
        ("../secret.txt", "'..' segments"),
        ("plots/../../etc/passwd", "'..' segments"),
        ("/etc/passwd", "absolute paths"),
        ("C:/Windows/x", "absolute paths"),
        ("a\x00b", "NUL"),
        ("plots\\roc.png", "backslashes"),
    ],
)
def test_bad_artifact_names_are_refused_and_nothing_is_written(
    sqlite_env: Path, tmp_path: Path, name: str, problem: str
) -> None:
    (tmp_path / "report.html").write_text("<html/>")
    with lw.start_run() as run:
        for log in (
            lambda: lw.log_dict({"a": 1}, name),
            lambda: lw.log_text("x", name),
            lambda: lw.log_artifact(tmp_path / "report.html", artifact_path=name),
        ):
            with pytest.raises(lw.InvalidInput) as error:
                log()
            assert f"invalid artifact path {name!r}" in str(error.value) and problem in str(error.value)
    assert lw.list_artifacts(run.id) == []


def test_unknown_runs_closed_runs_and_immutable_params(sqlite_env: Path) -> None:
    with pytest.raises(lw.NotFound, match="run 'deadbeef' not found"):
        lw.get_run("deadbeef")
    with pytest.raises(lw.NotFound, match="run 'deadbeef' not found"):
        lw.list_metric_history("deadbeef", "auc")
    with pytest.raises(lw.NotFound, match="experiment 'nope' not found"):
        lw.search_runs(experiment="nope")
    with pytest.raises(lw.InvalidInput, match=r"invalid experiment name '\.\./evil'"):
        lw.set_experiment("../evil")
    with pytest.raises(lw.Conflict, match="no active run"):
        lw.log_metric("auc", 0.5)
    with lw.start_run() as run:
        lw.log_param("C", 1.0)
        with pytest.raises(lw.Conflict, match=r"param 'C'.*immutable"):
            lw.log_param("C", 2.0)
        with pytest.raises(lw.InvalidInput, match="metric 'auc' must be a number"):
            lw.log_metric("auc", "high")  # type: ignore[arg-type]
    with pytest.raises(lw.Conflict, match="finished"):
        lw.log_param("x", 1, run_id=run.id)


def test_cli_commands_of_the_issue(lw_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    run_id = log_issue_snippet(tmp_path)

    version = cli("--version")
    assert version.returncode == 0 and lw.__version__ in version.stdout
    upgraded = cli("db", "upgrade")
    assert upgraded.returncode == 0 and "revision" in upgraded.stdout, upgraded.stderr
    experiments = cli("experiments", "list")
    assert experiments.returncode == 0 and "churn" in experiments.stdout
    runs = cli(
        "runs", "list", "--experiment", "churn", "--filter", "metrics.auc > 0.9 and params.penalty = 'l2'"
    )
    assert runs.returncode == 0 and run_id[:8] in runs.stdout and "baseline" in runs.stdout  # a unique prefix
    shown = cli("runs", "show", run_id)
    assert shown.returncode == 0 and "penalty" in shown.stdout and "report.html" in shown.stdout

    bad_filter = cli("runs", "list", "--experiment", "churn", "--filter", "metrics.auc >> 0.9")
    assert_one_line_error(bad_filter.returncode, bad_filter.stderr, "'metrics.auc >> 0.9'")
    unknown = cli("runs", "show", "deadbeef")
    assert_one_line_error(unknown.returncode, unknown.stderr, "run 'deadbeef' not found")
    usage = cli("runs", "list", "--max-results", "many")
    assert_one_line_error(usage.returncode, usage.stderr, "--max-results", exit_code=2)


@pytest.mark.parametrize(
    "args, needle",
    [
        (["bogus"], "No such command 'bogus'"),
        (["runs", "bogus"], "No such command 'bogus'"),
        (["runs", "show"], "Missing argument"),
        (["runs", "list", "--experiment"], "'--experiment' requires an argument"),
        (["runs", "list", "--max-results", "many"], "Invalid value for '--max-results'"),
        (["runs", "list", "--no-such-option"], "No such option: --no-such-option"),
        (["gc", "--grace", "soon"], "Invalid value for '--grace'"),
    ],
)
def test_cli_usage_errors_are_one_line(
    sqlite_env: Path, capsys: pytest.CaptureFixture[str], args: list[str], needle: str
) -> None:
    code, out, err = run_cli_here(capsys, *args)
    assert_one_line_error(code, err, needle, exit_code=2)
    assert out == ""


def test_cli_bare_group_prints_its_help(sqlite_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli_here(capsys, "runs")
    assert code == 2 and "Usage" in out + err and "error:" not in err


def test_lifecycle_delete_restore_gc_and_name_reuse(lw_env: Path, tmp_path: Path) -> None:
    lw.set_experiment("churn")
    with lw.start_run() as run:
        lw.log_text("blob", "notes.txt")
    lw.delete_run(run.id)
    assert lw.get_run(run.id).lifecycle == "deleted"
    lw.restore_run(run.id)
    assert lw.get_run(run.id).lifecycle == "active"
    lw.delete_experiment("churn")
    with pytest.raises(lw.AlreadyExists, match="loopwright gc"):
        lw.create_experiment("churn")
    lw.restore_experiment("churn")
    lw.delete_experiment("churn")
    report = lw.gc(grace_seconds=0)
    assert report.runs == 1 and report.experiments == 1 and report.blobs == 1
    assert lw.create_experiment("churn").name == "churn"
    with pytest.raises(lw.NotFound):
        lw.get_run(run.id)


@pytest.mark.parametrize(
    "env, needle",
    [
        (
            {"LOOPWRIGHT_STORE_URI": "postgresql+psycopg://nobody:secret@127.0.0.1:1/x"},
            "cannot open the store postgresql+psycopg://nobody:***@127.0.0.1:1/x: connection failed",
        ),
        ({"LOOPWRIGHT_STORE_URI": "mysql://db/x"}, "unsupported store URI 'mysql://db/x'"),
        ({"LOOPWRIGHT_HOME": "/proc/no/such/home"}, "cannot create the store folder '/proc/no/such/home'"),
        (
            {"LOOPWRIGHT_ARTIFACT_URI": "nosuchproto://bucket"},
            "unsupported artifact URI 'nosuchproto://bucket'",
        ),
    ],
)
def test_unusable_configuration_is_one_clear_line(
    sqlite_env: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    env: dict[str, str],
    needle: str,
) -> None:
    if "LOOPWRIGHT_HOME" in env:
        monkeypatch.delenv("LOOPWRIGHT_STORE_URI", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    lw.reset_clients()
    code, _, err = run_cli_here(capsys, "experiments", "list")
    assert_one_line_error(code, err, needle)
    assert "secret" not in err


def test_store_unreachable_is_unavailable_in_python(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOOPWRIGHT_STORE_URI", "postgresql+psycopg://nobody@127.0.0.1:1/x")
    lw.reset_clients()
    try:
        with pytest.raises(lw.Unavailable, match="cannot open the store") as error:
            lw.set_experiment("churn")
        assert error.value.http_status == 503
    finally:
        monkeypatch.delenv("LOOPWRIGHT_STORE_URI")
        lw.reset_clients()


def test_cli_errors_keep_user_text_verbatim(sqlite_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # brackets in a name are user text, not rich markup
    code, _, err = run_cli_here(capsys, "runs", "show", "x[b]y[/b]z")
    assert_one_line_error(code, err, "run 'x[b]y[/b]z' not found")
    code, _, err = run_cli_here(capsys, "runs", "list", "--experiment", "a[red]b")
    assert_one_line_error(code, err, "experiment 'a[red]b' not found")


def test_cli_tables_show_user_text_literally(sqlite_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lw.set_experiment("markup")
    with lw.start_run(name="[b]wide", tags={"note": "[x]"}) as run:
        lw.log_params({"activations": "[relu, tanh]", "closing": "[/]"})
    code, out, err = run_cli_here(capsys, "runs", "show", run.id)
    assert code == 0, err
    for text in ("[b]wide", "[x]", "[relu, tanh]", "[/]"):
        assert text in out
    code, out, _ = run_cli_here(capsys, "runs", "list", "--experiment", "markup")
    assert code == 0 and "[b]wide" in out


def test_cli_needs_no_click_package(tmp_path: Path) -> None:
    # typer >= 0.22 vendors click and no longer installs it: a fresh venv has no click
    script = "import sys; sys.modules['click'] = None; from loopwright.cli.main import main; main()"
    env = {**os.environ, "LOOPWRIGHT_HOME": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-c", script, "runs", "bogus"], env=env, capture_output=True, text=True, timeout=120
    )
    assert_one_line_error(result.returncode, result.stderr, "No such command 'bogus'", exit_code=2)
