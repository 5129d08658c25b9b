"""`loopwright gate --policy` takes what `lw.gate(policy=…)` takes: a file, or the YAML text itself."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from eval_models import FEATURES, churn_frame, register
from sklearn.linear_model import LogisticRegression

import loopwright as lw


def _gate(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "loopwright.cli", "gate", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )


def test_the_cli_policy_is_a_file_or_inline_yaml_like_the_api(sqlite_env: Path, tmp_path: Path) -> None:
    train = churn_frame(1000, seed=0, islands=False)
    register(
        LogisticRegression(max_iter=500).fit(train[FEATURES], train["churned"]), "churn", train[FEATURES]
    )
    data = tmp_path / "holdout.parquet"
    churn_frame(500, seed=1, islands=False).to_parquet(data)
    common = ["--data", str(data), "--target", "churned", "--latency-sample", "5"]

    inline = "metric_thresholds: {roc_auc: {min: 0.6}}"
    passed = _gate("models:/churn/1", "--policy", inline, *common)
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "PASSED all 1 checks" in passed.stdout

    # the same text fails the way the API fails it: a rule that does not hold is exit 1, not "no such file"
    strict = _gate("models:/churn/1", "--policy", "metric_thresholds: {roc_auc: {min: 0.999}}", *common)
    assert strict.returncode == 1, strict.stdout + strict.stderr
    assert "FAILED 1 of 1 checks" in strict.stdout
    verdicts = [e.after["passed"] for e in lw.list_audit_log("churn", action="gate_verdict")]
    assert verdicts == [True, False]

    # a file still works, and a file whose name has a colon is read as the file
    policy = tmp_path / "gate:v2.yaml"
    policy.write_text(inline + "\n")
    from_file = _gate("models:/churn/1", "--policy", str(policy), *common)
    assert from_file.returncode == 0, from_file.stdout + from_file.stderr

    # inline text with an unknown metric is refused in one line, exit 2, as the API refuses it
    unknown = _gate("models:/churn/1", "--policy", "metric_thresholds: {auc: {min: 0.8}}", *common)
    assert unknown.returncode == 2
    assert "unknown metric 'auc'" in unknown.stderr and len(unknown.stderr.strip().splitlines()) == 1
    missing = _gate("models:/churn/1", "--policy", str(tmp_path / "nope.yaml"), *common)
    assert missing.returncode == 2 and "no such policy file" in missing.stderr
