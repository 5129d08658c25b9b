"""Each loop transition carries the time it happened (not the step's start), and ``loop status``
shows how long the loop stayed in each state."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pandas as pd
from loop_scenario import FEATURES, T0, TARGET, config, register_champion, sample
from sklearn.linear_model import LogisticRegression

import loopwright as lw
from cli_process import run_cli_here


@lw.step
def timed_train(data: str, clock_file: str) -> LogisticRegression:
    """Trains like the scenario and writes when it ran (wall-clock ms) to ``clock_file``."""
    started = time.time_ns() // 1_000_000
    frame = pd.read_parquet(data)
    model = LogisticRegression().fit(frame[FEATURES], frame[TARGET])
    Path(clock_file).write_text(f"{started} {time.time_ns() // 1_000_000}")
    return model


@lw.pipeline
def timed_training(data: str, clock_file: str) -> Any:
    return timed_train(data, clock_file)


def _times(tmp_path: Path, **overrides: Any) -> dict[str, Any]:
    """The loop of ``timed_training``; its package is unsigned (the step reads its data itself), so
    the loop promotes it only with ``allow_unsigned`` (true here unless overridden)."""
    overrides = {"allow_unsigned": True, **overrides}
    clock_file = tmp_path / "trained-at.txt"
    params = {**config(tmp_path)["params"], "clock_file": str(clock_file)}
    return config(
        tmp_path,
        pipeline=timed_training,
        params=params,
        reference_step=None,
        trigger="never",
        cache=False,
        **overrides,
    )


def test_transitions_carry_the_time_they_happen(sqlite_env: Path, tmp_path: Path) -> None:
    register_champion(sample(3000, seed=1))
    result = lw.Loop(_times(tmp_path)).step(force=True)
    started, ended = (int(x) for x in (tmp_path / "trained-at.txt").read_text().split())
    retraining, gated, promoted = result.transitions
    assert [t.to_state for t in result.transitions] == ["retraining", "gated", "promoted"]
    # the cycle started before the pipeline ran; the gate's verdict came after it
    assert retraining.time_ms <= started <= ended <= gated.time_ms <= promoted.time_ms
    history = lw.list_loop_history("churn")
    assert [t.time_ms for t in history] == [t.time_ms for t in result.transitions]
    # how long the loop stayed in each state: until the next transition; the last one still lasts
    assert [t.duration_ms for t in history] == [
        gated.time_ms - retraining.time_ms,
        promoted.time_ms - gated.time_ms,
        None,
    ]
    assert lw.list_loop_history("churn", cycle=1, max_results=2)[0].duration_ms == (
        promoted.time_ms - gated.time_ms
    )


def test_a_replayed_clock_advances_with_the_work(sqlite_env: Path, tmp_path: Path) -> None:
    register_champion(sample(3000, seed=1))
    result = lw.Loop(_times(tmp_path)).step(now=T0, force=True)
    started, ended = (int(x) for x in (tmp_path / "trained-at.txt").read_text().split())
    retraining, gated, _ = result.transitions
    assert T0 <= retraining.time_ms < T0 + 60_000  # the replayed clock, not the wall clock
    assert gated.time_ms - retraining.time_ms >= ended - started


def test_status_shows_the_time_spent_in_each_state(sqlite_env: Path, tmp_path: Path, capsys: Any) -> None:
    store = lw.get_client().store
    store.transition_loop(
        "churn", "retraining", expect=["idle"], cycle=1, version=None, reason="x", time_ms=T0
    )
    store.transition_loop(
        "churn", "gated", expect=["retraining"], cycle=1, version=2, reason="gate passed", time_ms=T0 + 83_000
    )
    store.transition_loop(
        "churn", "canary", expect=["gated"], cycle=1, version=2, reason="canary", time_ms=T0 + 83_500
    )
    store.transition_loop(
        "churn",
        "promoted",
        expect=["canary"],
        cycle=1,
        version=2,
        reason="promoted",
        time_ms=T0 + 2 * 3_600_000,
    )
    code, out, err = run_cli_here(capsys, "loop", "status", "churn")
    assert code == 0, err
    assert "duration" in out
    rows = {line.split("│")[5].strip(): line for line in out.splitlines() if line.count("│") > 6}
    assert "1m 23s" in rows["retraining"]
    assert "500ms" in rows["gated"]
    assert "1h 58m" in rows["canary"]


def test_an_unsigned_candidate_is_not_promoted_unless_allowed(sqlite_env: Path, tmp_path: Path) -> None:
    """``timed_train`` reads its data itself, so its package has no frame to infer a signature from."""
    register_champion(sample(3000, seed=1))
    refused = lw.Loop(_times(tmp_path, allow_unsigned=False)).step(force=True)
    assert refused.gate is not None and refused.gate.passed
    assert (refused.state, refused.promoted, refused.rolled_back) == ("rolled_back", False, True)
    assert "v2 has no signature" in refused.reason and "allow_unsigned: true" in refused.reason
    assert lw.get_registered_model("churn").aliases == {"champion": 1}
    assert "no signature" in lw.get_model_version("churn", 2).tags["loopwright.loop.rejected"]

    allowed = lw.Loop(_times(tmp_path, allow_unsigned=True)).step(force=True)
    assert (allowed.state, allowed.candidate and allowed.candidate.version) == ("promoted", 3)
    assert lw.get_registered_model("churn").aliases == {"champion": 3}
