"""Gates: constructed candidates pass or fail, the verdict is audited, aliases move only on a pass, CLI exit codes."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from eval_models import FEATURES, SlowRegressor, churn_frame, register
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.metrics import roc_auc_score

import loopwright as lw

VERSUS = {"versus_champion": {"roc_auc": {"min_delta": -0.005}}}


def _churn_versions(islands: bool = False) -> pd.DataFrame:
    """v1 champion (tenure + spend), v2 a clearly worse challenger (fitted on shuffled labels: the same
    inputs, so only the metrics tell them apart), v3 as good as v1; returns the hold-out."""
    train = churn_frame(1500, seed=0, islands=False)
    good = LogisticRegression(max_iter=500).fit(train[FEATURES], train["churned"])
    register(good, "churn", train[FEATURES], alias="champion")
    shuffled = train["churned"].sample(frac=1, random_state=0).to_numpy()
    register(LogisticRegression(max_iter=500).fit(train[FEATURES], shuffled), "churn", train[FEATURES])
    register(
        LogisticRegression(C=0.5, max_iter=500).fit(train[FEATURES], train["churned"]),
        "churn",
        train[FEATURES],
    )
    return churn_frame(800, seed=1, islands=islands)


def _alias(name: str, alias: str) -> int | None:
    try:
        return lw.get_model_version_by_alias(name, alias).version
    except lw.NotFound:
        return None


def test_a_clearly_worse_challenger_fails_versus_the_champion(sqlite_env: Path) -> None:
    holdout = _churn_versions()
    verdict = lw.gate(
        "models:/churn/2",
        policy=VERSUS,
        data=holdout,
        target="churned",
        promote="challenger",
        latency_sample=10,
    )
    assert not verdict.passed and not bool(verdict)
    [check] = verdict.checks
    assert (check.metric, check.scope, check.kind, check.rule) == (
        "roc_auc",
        "overall",
        "versus_champion",
        "delta >= -0.005",
    )
    assert (
        check.candidate == verdict.candidate.metrics["roc_auc"]
        and check.champion == verdict.champion.metrics["roc_auc"]
    )
    assert check.champion - check.candidate > 0.1 and not check.passed
    # the delta in the reason, against ROC AUCs computed here by scikit-learn from each version's
    # own probabilities on the hold-out (4 significant digits shown)
    auc = {
        v: roc_auc_score(
            holdout["churned"], lw.load_model(f"models:/churn/{v}").predict_proba(holdout[FEATURES])[:, 1]
        )
        for v in (1, 2)
    }
    shown = re.fullmatch(r"delta (-0\.\d{1,4}), not delta >= -0\.005", check.reason)
    assert shown is not None, check.reason
    assert float(shown.group(1)) == pytest.approx(auc[2] - auc[1], abs=5e-5)
    assert verdict.champion_uri == "models:/churn/1" and verdict.model_uri == "models:/churn/2"
    assert verdict.promoted is None and _alias("churn", "challenger") is None  # failed: no alias moved
    assert list(verdict.to_frame().columns) == [
        "metric",
        "scope",
        "kind",
        "rule",
        "candidate",
        "champion",
        "passed",
        "reason",
    ]

    [entry] = lw.list_audit_log("churn", action="gate_verdict")
    assert (entry.entity, entry.name, entry.version) == ("model_version", "churn", 2)
    assert entry.before["champion"]["version"] == 1
    assert entry.before["champion"]["metrics"]["roc_auc"] == pytest.approx(check.champion)
    assert entry.after["passed"] is False and entry.after["promote"] == "challenger"
    assert entry.after["checks"][0]["reason"] == check.reason
    assert entry.after["policy"] == VERSUS and entry.id == verdict.audit_id


def test_a_passing_gate_promotes_and_records_everything(lw_env: Path) -> None:
    holdout = _churn_versions()
    policy = {
        "metric_thresholds": {"roc_auc": {"min": 0.7}, "log_loss": {"max": 0.7}},
        **VERSUS,
        "slices": {"region": {"roc_auc": {"min": 0.6}}},
    }
    verdict = lw.gate("models:/churn/3", policy, holdout, "churned", promote="challenger", latency_sample=10)

    assert verdict.passed, verdict.to_frame()
    assert [(c.kind, c.scope) for c in verdict.checks] == [
        ("threshold", "overall"),
        ("threshold", "overall"),
        ("versus_champion", "overall"),
        ("slice", "region=east"),
        ("slice", "region=north"),
        ("slice", "region=south"),
    ]
    assert verdict.promoted == "challenger" and _alias("churn", "challenger") == 3
    assert _alias("churn", "champion") == 1
    actions = [e.action for e in lw.list_audit_log("churn", version=3)]
    assert actions[-2:] == ["gate_verdict", "alias_set"]  # the verdict first, then the promotion it allowed

    gate_run = lw.get_run(verdict.run_id)
    assert gate_run.system_tags["loopwright.gate.passed"] == "true" and gate_run.metrics["gate_passed"] == 1.0
    assert lw.load_dict(gate_run.id, "gate/verdict.json")["checks"][3]["scope"] == "region=east"
    children = {r.id: r for r in lw.list_child_runs(gate_run.id)}
    assert set(children) == {verdict.candidate.run_id, verdict.champion.run_id}
    assert children[verdict.champion.run_id].system_tags["loopwright.evaluation.role"] == "champion"
    store = lw.get_client().store
    for name_version, result in (("churn/3", verdict.candidate), ("churn/1", verdict.champion)):
        edges = store.get_lineage_edges("model_version", name_version, "downstream")
        assert any(e.dst_id == result.run_id and e.relation == "evaluated_by" for e in edges)
        assert result.report_path.exists()
    # both were evaluated on the same rows, with the same slices
    assert verdict.candidate.n_rows == verdict.champion.n_rows == len(holdout)
    assert verdict.candidate.slices.keys() == verdict.champion.slices.keys()


def test_thresholds_and_slice_rules_fail_with_reasons(sqlite_env: Path) -> None:
    holdout = _churn_versions(islands=True)
    policy = {
        "metric_thresholds": {"roc_auc": {"min": 0.99}, "log_loss": {"max": 0.7}},
        "slices": {"region": {"roc_auc": {"min": 0.6}, "accuracy": {"min": 0.25}}},
    }
    verdict = lw.gate("models:/churn/3", policy, holdout, "churned", latency_sample=5)
    assert not verdict.passed
    failed = {(c.metric, c.scope): c for c in verdict.failures}
    assert set(failed) == {("roc_auc", "overall"), ("roc_auc", "region=islands")}
    assert failed["roc_auc", "overall"].reason.endswith("is not >= 0.99")
    assert failed["roc_auc", "region=islands"].reason.startswith(
        "candidate roc_auc undefined: only one class here"
    )
    assert failed["roc_auc", "region=islands"].candidate is None
    passed = {(c.metric, c.scope) for c in verdict.checks if c.passed}
    assert ("log_loss", "overall") in passed and ("accuracy", "region=islands") in passed
    assert ("roc_auc", "region=north") in passed


def test_without_a_champion_versus_rules_pass_with_a_note(sqlite_env: Path) -> None:
    frame = churn_frame(600, islands=False)
    register(
        LogisticRegression(max_iter=500).fit(frame[FEATURES], frame["churned"]), "fresh", frame[FEATURES]
    )
    policy = {**VERSUS, "metric_thresholds": {"accuracy": {"min": 0.6}}}
    verdict = lw.gate("models:/fresh/1", policy, frame, "churned", promote="champion", latency_sample=5)
    assert verdict.passed and verdict.champion is None and verdict.champion_uri is None
    versus = next(c for c in verdict.checks if c.kind == "versus_champion")
    assert versus.passed and versus.reason == "no champion" and versus.champion is None
    assert any(n.startswith("no champion: models:/fresh@champion is not set") for n in verdict.notes)
    assert _alias("fresh", "champion") == 1  # the first version may take the champion alias directly
    assert lw.list_audit_log("fresh", action="gate_verdict")[0].before == {"champion": None}

    other = lw.gate(
        "models:/fresh@champion", VERSUS, frame, "churned", champion_alias="baseline", latency_sample=5
    )
    assert other.passed and other.model_uri == "models:/fresh/1" and other.checks[0].reason == "no champion"


def test_a_much_slower_candidate_fails_the_latency_ratio(sqlite_env: Path) -> None:
    rng = np.random.default_rng(4)
    frame = pd.DataFrame({"x": rng.normal(size=300)})
    frame["y"] = 2 * frame["x"] + rng.normal(scale=0.1, size=300)
    register(LinearRegression().fit(frame[["x"]], frame["y"]), "double", frame[["x"]], alias="champion")
    slow = SlowRegressor()
    slow.config = {"delay": 0.05}  # 50 ms per call against well under a millisecond
    register(slow, "double", frame[["x"]])
    policy = {
        "metric_thresholds": {"mae": {"max": 0.5}},
        "versus_champion": {"latency_p99_ms": {"max_ratio": 1.2}, "rmse": {"max_ratio": 1.5}},
    }
    verdict = lw.gate("models:/double/2", policy, frame, "y", latency_sample=8)
    checks = {(c.metric, c.kind): c for c in verdict.checks}
    latency = checks["latency_p99_ms", "versus_champion"]
    assert not latency.passed and not verdict.passed
    assert (
        latency.candidate == verdict.candidate.latency.p99_ms
        and latency.champion == verdict.champion.latency.p99_ms
    )
    shown = re.fullmatch(
        r"ratio ([\d.]+) \(([\d.]+) to ([\d.]+) across 5 timing rounds\), not ratio <= 1\.2", latency.reason
    )
    assert shown is not None, latency.reason
    ratio, low, high = (float(g) for g in shown.groups())
    # 4 significant digits of the p99 ratio, and of the interquartile spread of the rounds' ratios
    expected = verdict.candidate.latency.p99_ms / verdict.champion.latency.p99_ms
    assert ratio == pytest.approx(expected, rel=1e-3) and ratio > 1.2
    assert latency.spread is not None
    assert (low, high) == pytest.approx(latency.spread, rel=1e-3)
    assert latency.spread is not None and latency.spread[0] > 1.2 and not latency.inconclusive
    assert checks["mae", "threshold"].passed and checks["rmse", "versus_champion"].passed
    assert verdict.candidate.latency.single_rows == verdict.champion.latency.single_rows == 8


def test_gate_input_errors(sqlite_env: Path) -> None:
    holdout = _churn_versions()
    with pytest.raises(lw.InvalidInput, match="the policy checks rmse, which classification does not report"):
        lw.gate("models:/churn/3", {"metric_thresholds": {"rmse": {"max": 1}}}, holdout, "churned")
    with lw.start_run() as run:
        lw.log_model(LogisticRegression().fit(holdout[FEATURES], holdout["churned"]), "model")
    with pytest.raises(lw.InvalidInput, match="a gate judges a registered version"):
        lw.gate(f"runs:/{run.id}/model", VERSUS, holdout, "churned")
    with pytest.raises(lw.InvalidInput, match="invalid promote alias '7': an alias names a role"):
        lw.gate("models:/churn/3", VERSUS, holdout, "churned", promote="7")
    with pytest.raises(lw.NotFound):
        lw.gate("models:/churn/9", VERSUS, holdout, "churned")
    assert lw.list_audit_log("churn", action="gate_verdict") == []  # nothing judged, nothing recorded


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "loopwright.cli", *args], env=env, capture_output=True, text=True, timeout=180
    )


def test_cli_exit_codes_table_and_promotion(sqlite_env: Path, tmp_path: Path) -> None:
    holdout = _churn_versions()
    data = tmp_path / "holdout.parquet"
    holdout.to_parquet(data)
    policy = tmp_path / "gate.yaml"
    policy.write_text(
        "metric_thresholds: {roc_auc: {min: 0.70}, log_loss: {max: 0.70}}\n"
        "versus_champion: {roc_auc: {min_delta: -0.005}}\n"
        "slices: {region: {roc_auc: {min: 0.6}}}\n"
    )
    common = ["--policy", str(policy), "--data", str(data), "--target", "churned", "--latency-sample", "10"]

    failed = _cli("gate", "models:/churn/2", *common, "--promote", "challenger")
    assert failed.returncode == 1, failed.stderr
    out = failed.stdout
    assert "Gate models:/churn/2 vs models:/churn/1" in out and "FAILED" in out
    for column in ("metric", "candidate", "champion", "rule", "result"):
        assert column in out
    assert "roc_auc [region=north]" in out and "delta >= -0.005" in out and "FAIL" in out
    assert "alias 'challenger' not moved" in out and _alias("churn", "challenger") is None

    passed = _cli("gate", "models:/churn/3", *common, "--promote", "challenger")
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "PASSED all 6 checks; alias 'challenger' -> models:/churn/3" in passed.stdout
    assert _alias("churn", "challenger") == 3
    assert [e.after["passed"] for e in lw.list_audit_log("churn", action="gate_verdict")] == [False, True]

    bad = tmp_path / "bad.yaml"
    bad.write_text("metric_thresholds: {auc: {min: 0.8}}\n")
    unusable = _cli(
        "gate",
        "models:/churn/3",
        *common[:0],
        "--policy",
        str(bad),
        "--data",
        str(data),
        "--target",
        "churned",
    )
    assert unusable.returncode == 2
    assert (
        "unknown metric 'auc'; known metrics:" in unusable.stderr
        and len(unusable.stderr.strip().splitlines()) == 1
    )
    missing = _cli(
        "gate",
        "models:/churn/3",
        "--policy",
        str(policy),
        "--data",
        str(tmp_path / "nope.parquet"),
        "--target",
        "churned",
    )
    assert missing.returncode == 2 and "no such data file" in missing.stderr
    usage = _cli("gate", "models:/churn/3", "--policy", str(policy))
    assert usage.returncode == 2

    shown = _cli(
        "evaluate",
        "models:/churn/1",
        "--data",
        str(data),
        "--target",
        "churned",
        "-s",
        "region",
        "--latency-sample",
        "5",
    )
    assert shown.returncode == 0, shown.stderr
    assert "roc_auc" in shown.stdout and "region=north" in shown.stdout and "report" in shown.stdout


def _busy(stop: threading.Event) -> None:
    while not stop.is_set():
        sum(i * i for i in range(10_000))


def test_a_latency_ratio_between_equal_models_never_fails_under_load(sqlite_env: Path) -> None:
    """The README's {max_ratio: 1.2}: the same model twice, with the machine busy, passes or is inconclusive."""
    rng = np.random.default_rng(5)
    frame = pd.DataFrame({"x": rng.normal(size=300)})
    frame["y"] = 2 * frame["x"] + rng.normal(scale=0.1, size=300)
    model = LinearRegression().fit(frame[["x"]], frame["y"])
    register(model, "twin", frame[["x"]], alias="champion")
    register(model, "twin", frame[["x"]])
    policy = {"versus_champion": {"latency_p99_ms": {"max_ratio": 1.2}, "latency_p50_ms": {"max_ratio": 1.2}}}
    stop = threading.Event()
    noise = [threading.Thread(target=_busy, args=(stop,), daemon=True) for _ in range(2)]
    for thread in noise:
        thread.start()
    try:
        for _ in range(3):
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                verdict = lw.gate("models:/twin/2", policy, frame, "y", latency_sample=40)
            for check in verdict.checks:
                assert check.passed and check.spread is not None, check
                assert check.spread[0] <= 1.2  # equal models: the spread always reaches below the bound
                if check.inconclusive:
                    assert check.reason.startswith("inconclusive: ") and check.reason.endswith(
                        "counted as pass"
                    )
                    assert any(check.metric in str(w.message) for w in caught)
                    assert any(check.metric in note for note in verdict.notes)
    finally:
        stop.set()


def test_an_inconclusive_latency_rule_counts_as_the_policy_says() -> None:
    from loopwright.evaluation.gate import GateCheck, _judged
    from loopwright.evaluation.policy import GatePolicy, Rule

    rule = Rule("max_ratio", 1.2)
    check = GateCheck("latency_p99_ms", "overall", "versus_champion", str(rule), 1.1, 1.0, False)
    straddling = [1.0, 1.1, 1.3, 1.4, 1.25]
    counted_pass = _judged(check, rule, 1.1, straddling, "ratio", "pass")
    counted_fail = _judged(check, rule, 1.1, straddling, "ratio", "fail")
    assert counted_pass.inconclusive and counted_pass.passed
    assert counted_fail.inconclusive and not counted_fail.passed
    assert "straddles ratio <= 1.2; counted as fail" in counted_fail.reason
    assert _judged(check, rule, 1.1, [2.0, 2.1, 2.2], "ratio", "pass").passed is False
    assert (
        GatePolicy.from_dict(
            {"versus_champion": {"latency_p99_ms": {"max_ratio": 1.2}}, "inconclusive": "fail"}
        ).inconclusive
        == "fail"
    )
    with pytest.raises(lw.InvalidInput, match="inconclusive: use pass or fail"):
        GatePolicy.from_dict(
            {"versus_champion": {"latency_p99_ms": {"max_ratio": 1.2}}, "inconclusive": "maybe"}
        )
