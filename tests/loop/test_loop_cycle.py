"""A whole cycle without a server, on SQLite and PostgreSQL: the drift trigger fires on injected
drift only, a gate failure rolls back without touching an alias, a passing gate promotes directly
(no canary section), and an unchanged pipeline is not registered twice. Traffic goes into the real
prediction log with chosen timestamps, so hour windows need no waiting."""

from __future__ import annotations

from pathlib import Path

from loop_scenario import FEATURES, HOUR, T0, config, log_traffic, register_champion, sample

import loopwright as lw

ALIAS_ACTIONS = ("alias_set", "alias_moved", "alias_deleted")


def _alias_moves(model: str = "churn") -> list[tuple[str, str, object, object]]:
    return [
        (e.action, e.actor, (e.before or {}).get("version"), (e.after or {}).get("version"))
        for e in lw.list_audit_log(model)
        if e.action in ALIAS_ACTIONS
    ]


def test_drift_triggers_gate_failure_rolls_back_and_a_pass_promotes(lw_env: Path, tmp_path: Path) -> None:
    register_champion(sample(3000, seed=1))
    noisy = {**config(tmp_path)["params"], "noise": True}
    bad = lw.Loop(config(tmp_path, params=noisy, monitor={"window": "1h", "grace": "0s"}))
    before = _alias_moves()

    # hour 0: traffic like the training data -> the loop's monitoring pass sees no drift
    log_traffic(sample(1000, seed=2)[FEATURES], T0 + 60_000, 1)
    quiet = bad.step(now=T0 + HOUR + 60_000)
    assert (quiet.state, quiet.triggered, quiet.transitions) == ("idle", False, [])
    assert quiet.reason.startswith("no drift in the latest closed window")
    assert [w.drifted for w in lw.list_monitor_windows("churn")] == [False, None]

    # hour 1: shifted traffic -> drift -> retrain (a bad model) -> the gate stops it
    log_traffic(sample(1000, seed=3, shifted=True)[FEATURES], T0 + HOUR + 60_000, 1)
    failed = bad.step(now=T0 + 2 * HOUR + 60_000)
    assert failed.triggered and failed.rolled_back and not failed.promoted
    assert (failed.state, failed.cycle, failed.candidate and failed.candidate.version) == (
        "rolled_back",
        1,
        2,
    )
    assert [t.to_state for t in failed.transitions] == ["retraining", "gated", "rolled_back"]
    assert failed.transitions[0].reason.startswith("drift in window 2026-01-01 01:00:00")
    assert "f0" in failed.transitions[0].reason and "f1" in failed.transitions[0].reason
    assert failed.gate is not None and not failed.gate.passed
    assert failed.transitions[1].reason.startswith("gate failed: roc_auc")
    assert "no traffic was routed to v2" in failed.reason
    # a gate failure never touches an alias; the candidate is tagged rejected
    assert _alias_moves() == before
    assert lw.get_registered_model("churn").aliases == {"champion": 1}
    rejected = lw.get_model_version("churn", 2)
    assert rejected.tags["loopwright.loop.rejected"].startswith("gate failed")
    assert rejected.tags["loopwright.loop.cycle"] == "1"
    assert lw.list_audit_log("churn", version=2, action="gate_verdict")[0].after["passed"] is False

    # the drift that started cycle 1 does not start another one
    again = bad.step(now=T0 + 2 * HOUR + 120_000)
    assert (again.state, again.triggered) == ("rolled_back", False)
    assert "since the last cycle ended" in again.reason

    # forced, with good data: the gate passes and, with no canary section, promotes directly
    good = lw.Loop(config(tmp_path))
    promoted = good.step(now=T0 + 2 * HOUR + 180_000, force=True)
    assert promoted.triggered and promoted.promoted and promoted.state == "promoted"
    assert promoted.transitions[0].reason.startswith("forced (")
    assert promoted.candidate is not None and promoted.candidate.version == 3
    assert lw.get_registered_model("churn").aliases == {"champion": 3}
    assert _alias_moves()[len(before) :] == [("alias_moved", "loopwright-loop", 1, 3)]
    reference = lw.monitoring.load_profile("models:/churn/3")
    # the model's inputs (the training frame minus the label) and the version's own predictions
    assert sorted(reference.features) == sorted([*FEATURES, "prediction"])
    assert reference.prediction == "prediction"
    assert reference.n_rows == 3000

    # the same data again: the pipeline is all cache hits, nothing new is registered
    same = good.step(now=T0 + 2 * HOUR + 240_000, force=True)
    assert same.state == "failed" and "nothing new to gate" in same.reason
    assert lw.get_registered_model("churn").latest_version == 3

    history = lw.list_loop_history("churn")
    assert [(t.cycle, t.to_state) for t in history] == [
        (1, "retraining"), (1, "gated"), (1, "rolled_back"),
        (2, "retraining"), (2, "gated"), (2, "promoted"),
        (3, "retraining"), (3, "failed"),
    ]  # fmt: skip
    assert lw.get_loop_state("churn").state == "failed"
