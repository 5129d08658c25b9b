"""Runs of a killed process do not stay ``running`` forever: ``loopwright runs mark-failed`` (and
``lw.mark_failed_runs``) ends those whose process is gone and, with ``--stale``, those gone quiet."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

import loopwright as lw
from cli_process import assert_one_line_error, run_cli_here
from loopwright.store.entities import now_ms

HOLD_A_RUN = textwrap.dedent(
    """
    import sys, time
    import loopwright as lw
    with lw.start_run(name=sys.argv[1]) as run:
        lw.log_metric("loss", 0.5)
        lw.flush()
        print(run.id, flush=True)
        time.sleep(600)
    """
)


@pytest.fixture
def holders(lw_env: Path) -> Iterator[list[subprocess.Popen[str]]]:
    """Processes that each start a run and hold it open; killed at the end."""
    procs: list[subprocess.Popen[str]] = []
    yield procs
    for proc in procs:
        proc.kill()
        proc.communicate(timeout=60)


def _hold_a_run(procs: list[subprocess.Popen[str]], name: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD_A_RUN, name],
        env=dict(os.environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    procs.append(proc)
    assert proc.stdout is not None
    run_id = proc.stdout.readline().strip()
    assert run_id, proc.communicate(timeout=60)[1]
    return proc, run_id


def test_a_run_whose_process_was_killed_is_marked_failed(
    holders: list[subprocess.Popen[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    victim, victim_run = _hold_a_run(holders, "victim")
    _, alive_run = _hold_a_run(holders, "alive")
    owner = lw.get_run(victim_run).system_tags
    assert owner["loopwright.owner.pid"] == str(victim.pid) and owner["loopwright.owner.host"]
    victim.send_signal(signal.SIGKILL)
    victim.communicate(timeout=60)
    assert lw.get_run(victim_run).status == "running"  # nobody else would ever end it

    [listed] = lw.mark_failed_runs(dry_run=True)
    assert listed.run.id == victim_run and f"pid {victim.pid}" in listed.reason
    assert lw.get_run(victim_run).status == "running"  # a dry run ends nothing

    code, out, err = run_cli_here(capsys, "runs", "mark-failed", "--full-ids")
    assert code == 0, err
    assert "runs marked failed" in out and victim_run in out and "is gone" in out and alive_run not in out
    ended = lw.get_run(victim_run)
    assert ended.status == "failed" and f"pid {victim.pid}" in (ended.error or "")
    assert ended.end_time is not None and ended.end_time >= ended.start_time
    assert ended.metrics == {"loss": 0.5}  # what it logged is kept
    assert lw.get_run(alive_run).status == "running"

    code, out, _ = run_cli_here(capsys, "runs", "mark-failed")
    assert code == 0 and "no abandoned runs" in out


def test_stale_runs_are_ended_and_active_ones_kept(lw_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = lw.get_client().store
    experiment = lw.get_client().get_or_create_experiment("old")
    two_hours_ago = now_ms() - 2 * 3_600_000
    quiet = store.create_run(experiment.id, name="quiet", start_ms=two_hours_ago)
    written = store.create_run(experiment.id, name="written", start_ms=two_hours_ago)
    lw.log_param("lr", 0.1, run_id=written.id)  # a write now: active
    waiting = store.create_run(experiment.id, name="waiting", start_ms=two_hours_ago)
    child = store.create_run(experiment.id, name="child", start_ms=two_hours_ago, parent_id=waiting.id)
    store.set_tags(child.id, {"phase": "fit"})  # the parent waits quietly for an active child
    with lw.start_run(name="mine") as mine:  # this process is alive and its run fresh
        code, out, err = run_cli_here(
            capsys, "runs", "mark-failed", "--stale", "1h", "--dry-run", "--full-ids"
        )
        assert code == 0, err
        assert "dry run" in out and quiet.id in out and "no activity for 2h" in out
        assert all(run.id not in out for run in (written, waiting, child, mine))
        assert lw.get_run(quiet.id).status == "running"

        code, out, err = run_cli_here(capsys, "runs", "mark-failed", "--stale", "1h", "--full-ids")
        assert code == 0 and quiet.id in out, err
    ended = lw.get_run(quiet.id)
    assert ended.status == "failed" and "stale after 1h" in (ended.error or "")
    assert ended.end_time == ended.start_time  # it ended at its last sign of life
    assert {lw.get_run(r.id).status for r in (written, waiting, child)} == {"running"}
    assert lw.get_run(mine.id).status == "finished"


def test_a_run_written_meanwhile_is_left_running(lw_env: Path) -> None:
    store = lw.get_client().store
    experiment = lw.get_client().get_or_create_experiment("old")
    run = store.create_run(experiment.id, name="late", start_ms=now_ms() - 3_600_000)
    seen = run.last_activity
    assert seen is not None
    lw.log_metric("loss", 0.4, run_id=run.id)
    lw.flush()  # written after mark-failed read it
    assert store.fail_abandoned_run(run.id, int(seen.timestamp() * 1000), "marked failed: test") is None
    assert lw.get_run(run.id).status == "running"


def test_a_resumed_run_belongs_to_its_new_process(holders: list[subprocess.Popen[str]]) -> None:
    victim, run_id = _hold_a_run(holders, "resumed")
    victim.send_signal(signal.SIGKILL)
    victim.communicate(timeout=60)
    with lw.start_run(run_id=run_id):
        assert lw.get_run(run_id).system_tags["loopwright.owner.pid"] == str(os.getpid())
        assert lw.mark_failed_runs() == []


def test_a_bad_duration_is_one_line(lw_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli_here(capsys, "runs", "mark-failed", "--stale", "soon")
    assert_one_line_error(code, err, "not a duration: 'soon'")
