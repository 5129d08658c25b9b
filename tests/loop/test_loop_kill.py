"""A controller SIGKILLed in any state is resumed by the next one, which finishes the cycle exactly
once: one registered version, one promotion. Each controller is a real process stopped at a log
record of the point under test (``kill_driver.py``) and killed with its process group."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from loop_scenario import config, log_traffic, register_champion, sample

import loopwright as lw
from loopwright.store.entities import now_ms

DRIVER = Path(__file__).with_name("kill_driver.py")


def _write_config(tmp_path: Path, **overrides: Any) -> Path:
    doc = {**config(tmp_path, trigger="never", reference_step=None, **overrides)}
    doc["pipeline"] = "loop_scenario:churn_logged"
    path = tmp_path / "loop.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def _controller(path: Path, pattern: str, reached: Path, *, force: bool) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    args = [sys.executable, str(DRIVER), str(path), pattern, str(reached), *(["--force"] if force else [])]
    output = (reached.parent / "controller.log").open("w")
    return subprocess.Popen(args, env=env, start_new_session=True, stdout=output, stderr=subprocess.STDOUT)


def _kill_at(path: Path, pattern: str, tmp_path: Path, *, force: bool = True) -> None:
    """Run a controller until it logs ``pattern``, then SIGKILL it (and any worker it started)."""
    reached = tmp_path / "reached.txt"
    reached.unlink(missing_ok=True)
    process = _controller(path, pattern, reached, force=force)
    try:
        while not reached.exists() and process.poll() is None:
            time.sleep(0.05)
    finally:
        with contextlib.suppress(ProcessLookupError):  # the whole group: the controller and any worker
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    output = (tmp_path / "controller.log").read_text()
    assert process.returncode == -signal.SIGKILL, f"the controller ended before {pattern!r}: {output}"


def _versions() -> list[int]:
    return sorted(v.version for v in lw.search_model_versions("name = 'churn'"))


def _champion_moves() -> list[tuple[Any, Any]]:
    return [
        ((e.before or {}).get("version"), (e.after or {}).get("version"))
        for e in lw.list_audit_log("churn")
        if e.action in ("alias_set", "alias_moved") and (e.after or {}).get("alias") == "champion"
    ]


@pytest.mark.parametrize(
    ("pattern", "killed_in", "registered"),
    [
        ("fitting the model", "retraining", []),  # mid-pipeline
        ("registered; gating it", "retraining", [2]),  # mid-gate, the candidate registered
        ("retraining -> gated", "gated", [2]),  # gated, nothing promoted yet
        ("churn: champion -> v2", "gated", [2]),  # mid-promotion: the alias moved, the state did not
    ],
    ids=["pipeline", "gate", "gated", "promoting"],
)
def test_a_killed_controller_is_resumed_and_the_cycle_finishes_once(
    sqlite_env: Path, tmp_path: Path, pattern: str, killed_in: str, registered: list[int]
) -> None:
    register_champion(sample(3000, seed=1))
    path = _write_config(tmp_path)
    _kill_at(path, pattern, tmp_path)
    assert lw.get_loop_state("churn").state == killed_in
    assert _versions()[1:] == registered

    resumed = lw.Loop(path).step()  # no --force: the cycle in flight is resumed, not a new one started
    assert (resumed.state, resumed.cycle) == ("promoted", 1), resumed.reason
    assert _versions() == [1, 2]
    assert lw.get_registered_model("churn").aliases == {"champion": 2}
    assert _champion_moves() == [(None, 1), (1, 2)]
    history = [t.to_state for t in lw.list_loop_history("churn")]
    assert history.count("promoted") == 1 and history.count("gated") == 1
    if killed_in == "retraining":
        assert history == ["retraining", "retraining", "gated", "promoted"]
        assert lw.list_loop_history("churn")[1].reason.startswith(
            "resumed: the controller retraining cycle 1"
        )
    # the promotion can be rolled back to the champion before it
    assert lw.rollback_loop("churn").reason.endswith("champion v2 -> v1 (promoted in cycle 1)")
    # and the next step starts nothing: the cycle is over
    assert not lw.Loop(path).step().triggered


def test_a_controller_killed_mid_canary_promotion_is_finished_once(sqlite_env: Path, tmp_path: Path) -> None:
    register_champion(sample(3000, seed=1))
    path = _write_config(tmp_path, canary={"alias": "challenger", "min_requests": 1})
    started = lw.Loop(path).step(force=True)
    assert started.state == "canary"
    log_traffic(sample(200, seed=5, shifted=True), now_ms(), 2)
    _kill_at(path, "churn: champion -> v2", tmp_path, force=False)
    assert lw.get_loop_state("churn").state == "canary"
    assert lw.get_registered_model("churn").aliases == {"champion": 2, "challenger": 2}

    resumed = lw.Loop(path).step()
    assert resumed.state == "promoted" and "an interrupted promotion, finished" in resumed.reason
    assert lw.get_registered_model("churn").aliases == {"champion": 2}
    assert _champion_moves() == [(None, 1), (1, 2)]
    assert [t.to_state for t in lw.list_loop_history("churn")] == [
        "retraining",
        "gated",
        "canary",
        "promoted",
    ]
    assert lw.list_loop_history("churn")[-1].details["previous_version"] == 1
