"""The canary stage through a real server: a deployment of champion 90 / challenger 10 serves
live traffic while the loop gates a retrained version, routes the canary to it, judges it on its
own requests and labels, and promotes it (the server answers with it after hot swap) or rolls it
back; the audit log names the loop for every alias move, and the state survives the process
(``loopwright loop status`` in a subprocess)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import yaml
from loop_scenario import FEATURES, TARGET, config, register_champion, sample, write

import loopwright as lw
from loopwright.serving import ServerHandle, run_in_thread
from loopwright.serving.deployment import Deployment

DEPLOYMENT = {
    "endpoints": {
        "churn": {
            "routes": [
                {"model": "models:/churn@champion", "weight": 90},
                {"model": "models:/churn@challenger", "weight": 10},
            ]
        }
    }
}
CANARY = {
    "alias": "challenger",
    "min_requests": 10,
    "min_labels": 50,
    "metrics": {"accuracy": {"min_delta": -0.1}},
}


def _serving(server: ServerHandle, timeout: float = 30.0, **expected: int | None) -> None:
    """Wait until the server's routes serve ``expected`` versions (hot swap polls every 0.2 s)."""
    deadline = time.monotonic() + timeout
    while True:
        routes = httpx.get(f"{server.url}/endpoints/churn").json()["routes"]
        found = {r["model"].split("@")[1]: r["model_version"] for r in routes}
        if found == expected:
            return
        assert time.monotonic() < deadline, f"the server serves {found}, not {expected}"
        time.sleep(0.1)


def _traffic(http: httpx.Client, server: ServerHandle, requests: int, seed: int) -> dict[str, int]:
    """POST shifted rows (10 per request) and send their true labels back; versions that answered."""
    frame = sample(10 * requests, seed=seed, shifted=True)
    answered: dict[str, int] = {}
    for k in range(requests):
        part = frame.iloc[10 * k : 10 * (k + 1)]
        r = http.post(
            f"{server.url}/endpoints/churn/predict", json={"instances": part[FEATURES].to_dict("records")}
        )
        assert r.status_code == 200, r.text
        version = r.headers["x-model-version"]
        answered[version] = answered.get(version, 0) + 1
        labels = {"request_id": r.json()["request_id"], "label": part[TARGET].tolist()}
        assert http.post(f"{server.url}/endpoints/churn/feedback", json=labels).status_code == 200
    server.app.prediction_log.flush()
    return answered


def _alias_moves() -> list[tuple[str, str, str, Any, Any]]:
    return [
        (e.action, e.actor, e.before.get("alias") if e.before else e.after.get("alias"),
         (e.before or {}).get("version"), (e.after or {}).get("version"))
        for e in lw.list_audit_log("churn")
        if e.action in ("alias_set", "alias_moved", "alias_deleted")
    ]  # fmt: skip


def _cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LOOPWRIGHT_HOME": str(home), "COLUMNS": "250"}
    return subprocess.run(
        [sys.executable, "-m", "loopwright.cli", "loop", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_canary_promotes_then_rolls_back_through_a_real_server(sqlite_env: Path, tmp_path: Path) -> None:
    register_champion(sample(3000, seed=1))
    server = run_in_thread(Deployment.from_dict(DEPLOYMENT), poll_interval=0.2)  # challenger: dormant
    try:
        with httpx.Client(timeout=30) as http:
            assert _traffic(http, server, 20, seed=10) == {"1": 20}

            # cycle 1: forced retrain on new data; the gate passes; the canary alias gets v2
            loop = lw.Loop(config(tmp_path, trigger="never", canary=CANARY))
            idle = loop.step()
            assert (idle.state, idle.triggered) == ("idle", False) and "--force" in idle.reason
            started = loop.step(force=True)
            assert (started.state, started.candidate and started.candidate.version) == ("canary", 2)
            assert started.gate is not None and started.gate.passed and not started.promoted
            assert lw.get_model_version_by_alias("churn", "challenger").version == 2
            _serving(server, champion=1, challenger=2)
            waiting = loop.step()
            assert (waiting.state, waiting.transitions) == ("canary", [])
            assert waiting.reason == "the canary served 0 of 10 requests"

            answered = _traffic(http, server, 200, seed=11)
            assert answered["2"] >= 10 and answered["1"] > answered["2"]  # about 90 / 10
            promoted = loop.step()
            assert promoted.promoted and promoted.state == "promoted", promoted.reason
            assert promoted.canary is not None and promoted.canary.requests == answered["2"]
            assert promoted.canary.labelled == 10 * answered["2"]
            assert [c.passed for c in promoted.canary.checks] == [True]
            assert lw.get_registered_model("churn").aliases == {"champion": 2}
            _serving(server, champion=2, challenger=None)  # hot swap; the challenger route sleeps
            assert _traffic(http, server, 20, seed=12) == {"2": 20}

            # cycle 2: a candidate that passes the gate but not the canary's (strict) live rule
            strict = {**CANARY, "max_error_rate": 0.01}
            params = {"data": write(tmp_path / "train2.parquet", sample(3000, seed=8, shifted=True))}
            loop2 = lw.Loop(config(tmp_path, trigger="never", canary=strict, params=params))
            assert loop2.step(force=True).state == "canary"
            _serving(server, champion=2, challenger=3)
            _traffic(http, server, 200, seed=13)
            rolled = loop2.step()
            assert rolled.rolled_back and rolled.state == "rolled_back"
            assert "error_rate" in rolled.reason and "champion stays on v2" in rolled.reason
            assert lw.get_registered_model("churn").aliases == {"champion": 2}
            assert "loopwright.loop.rejected" in lw.get_model_version("churn", 3).tags
            _serving(server, champion=2, challenger=None)
            assert _traffic(http, server, 20, seed=14) == {"2": 20}
    finally:
        server.stop()

    loop_moves = [m for m in _alias_moves() if m[1] == "loopwright-loop"]
    assert loop_moves == [
        ("alias_set", "loopwright-loop", "challenger", None, 2),
        ("alias_moved", "loopwright-loop", "champion", 1, 2),
        ("alias_deleted", "loopwright-loop", "challenger", 2, None),
        ("alias_set", "loopwright-loop", "challenger", None, 3),
        ("alias_deleted", "loopwright-loop", "challenger", 3, None),
    ]

    # the state lives in the store: a new process reads it
    status = _cli(sqlite_env, "status", "churn")
    assert status.returncode == 0, status.stderr
    assert "rolled_back" in status.stdout and "history of churn" in status.stdout
    for reason in ("gate passed; challenger -> v2", "challenger removed, champion stays on v2"):
        assert reason in status.stdout
    path = tmp_path / "loop.yaml"
    doc = {**config(tmp_path, trigger="never"), "pipeline": "loop_scenario:churn_training"}
    path.write_text(yaml.safe_dump(doc))
    ran = _cli(sqlite_env, "run", "--config", str(path))
    assert ran.returncode == 0, ran.stderr
    assert "loop churn" in ran.stdout and "trigger 'never'" in ran.stdout
    every = _cli(sqlite_env, "status")
    assert every.returncode == 0 and "churn" in every.stdout and "rolled_back" in every.stdout
