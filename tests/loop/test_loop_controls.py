"""Operators steer the loop (SQLite; the store's half runs on both backends in test_store.py): a
paused loop triggers nothing and leaves its canary where it is; rollback ends a canary now or moves
the champion back to the version before the loop's last promotion; every control names its actor in
the loop's history and the registry's audit log; the CLI mirrors the Python calls."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from loop_scenario import config, register_champion, sample, write

import loopwright as lw
from cli_process import assert_one_line_error, run_cli_here
from loopwright.errors import Conflict

CANARY = {"alias": "challenger", "min_requests": 10}


def _loop_actions(model: str = "churn") -> list[tuple[str, str]]:
    return [(e.action, e.actor) for e in lw.list_audit_log(model) if e.action.startswith("loop_")]


def test_pause_resume_and_rollback_of_a_canary_then_of_a_promotion(
    sqlite_env: Path, tmp_path: Path, capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    register_champion(sample(3000, seed=1))
    monkeypatch.setenv("LOOPWRIGHT_USER", "ops-oncall")
    loop = lw.Loop(config(tmp_path, trigger="always", canary=CANARY))
    started = loop.step()
    assert (started.state, lw.get_registered_model("churn").aliases) == (
        "canary",
        {"champion": 1, "challenger": 2},
    )

    code, out, err = run_cli_here(capsys, "loop", "pause", "churn", "--reason", "holiday freeze")
    assert code == 0, err
    assert "paused by ops-oncall: holiday freeze" in out and "canary" in out
    paused = loop.step(force=True)  # neither the trigger nor --force starts anything
    assert (paused.state, paused.triggered, paused.transitions) == ("canary", False, [])
    assert "is paused (by ops-oncall" in paused.reason and "loopwright loop resume churn" in paused.reason
    assert lw.get_registered_model("churn").aliases == {"champion": 1, "challenger": 2}
    code, _, err = run_cli_here(capsys, "loop", "pause", "churn")
    assert_one_line_error(code, err, "already paused (by ops-oncall")

    code, out, err = run_cli_here(capsys, "loop", "resume", "churn")
    assert code == 0 and "resumed by ops-oncall" in out, err
    waiting = loop.step()
    assert (waiting.state, waiting.reason) == ("canary", "the canary served 0 of 10 requests")

    code, out, err = run_cli_here(capsys, "loop", "rollback", "churn", "--reason", "support tickets")
    assert code == 0, err
    assert "rolled back by ops-oncall: the cycle 1 of v2 ended in canary, challenger removed" in out
    assert lw.get_loop_state("churn").state == "rolled_back"
    assert lw.get_registered_model("churn").aliases == {"champion": 1}
    assert "support tickets" in lw.get_model_version("churn", 2).tags["loopwright.loop.rejected"]
    history = lw.list_loop_history("churn")
    assert [(t.from_state, t.to_state, t.actor) for t in history] == [
        ("idle", "retraining", "loopwright-loop"),
        ("retraining", "gated", "loopwright-loop"),
        ("gated", "canary", "loopwright-loop"),
        ("canary", "canary", "ops-oncall"),
        ("canary", "canary", "ops-oncall"),
        ("canary", "rolled_back", "ops-oncall"),
    ]
    deleted = [e for e in lw.list_audit_log("churn") if e.action == "alias_deleted"]
    assert [(e.actor, e.before) for e in deleted] == [("ops-oncall", {"alias": "challenger", "version": 2})]

    # a cycle without canary promotes v3 directly; rollback puts the champion back on v1
    params = {"data": write(tmp_path / "train2.parquet", sample(3000, seed=8, shifted=True))}
    promoted = lw.Loop(config(tmp_path, trigger="always", params=params)).step()
    assert promoted.promoted and lw.get_registered_model("churn").aliases == {"champion": 3}
    back = lw.rollback_loop("churn", actor="ada")
    assert (back.state, back.version) == ("rolled_back", 3)
    assert back.reason == "rolled back by ada: champion v3 -> v1 (promoted in cycle 2)"
    assert lw.get_registered_model("churn").aliases == {"champion": 1}
    moved = lw.list_audit_log("churn", action="alias_moved")[-1]
    assert (moved.actor, moved.before, moved.after) == (
        "ada",
        {"alias": "champion", "version": 3},
        {"alias": "champion", "version": 1},
    )
    with pytest.raises(Conflict, match=r"champion of 'churn' is v1, not v3 .*nothing to roll back"):
        lw.rollback_loop("churn")
    assert _loop_actions() == [
        ("loop_paused", "ops-oncall"),
        ("loop_resumed", "ops-oncall"),
        ("loop_rollback", "ops-oncall"),
        ("loop_rollback", "ada"),
    ]
    # the rolled-back promotion's traffic does not trigger the next cycle: the watermark moved
    assert lw.get_loop_state("churn").watermark_ms == back.since_ms


def test_controls_refuse_what_they_cannot_do(sqlite_env: Path, capsys: Any) -> None:
    code, _, err = run_cli_here(capsys, "loop", "rollback", "churn")
    assert_one_line_error(code, err, "the loop of 'churn' has promoted nothing yet")
    code, _, err = run_cli_here(capsys, "loop", "resume", "churn")
    assert_one_line_error(code, err, "the loop of 'churn' is not paused")
    store = lw.get_client().store
    store.transition_loop("churn", "retraining", expect=["idle"], cycle=1, version=None, reason="x")
    code, _, err = run_cli_here(capsys, "loop", "rollback", "churn")
    assert_one_line_error(code, err, "is retraining (cycle 1): nothing to roll back yet")
    code, _, err = run_cli_here(capsys, "loop", "pause", "bad name!")
    assert code != 0 and "Traceback" not in err
