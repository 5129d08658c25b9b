"""Issue 6 as a new user runs it: evaluate, the gate CLI with the issue's policy, profiles, drift, bad input."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.compose import make_column_transformer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

import loopwright as lw
from cli_process import run_cli
from loopwright.evaluation.latency import measure_latency

POLICY = """\
metric_thresholds: {roc_auc: {min: 0.80}, log_loss: {max: 0.45}}
versus_champion: {roc_auc: {min_delta: -0.005}, latency_p99_ms: {max_ratio: 1.2}}
slices: {region: {roc_auc: {min: 0.75}}}
"""


def churn(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(
        {
            "tenure": rng.gamma(2.0, 10.0, n),
            "monthly": rng.normal(50, 10, n),
            "plan": rng.choice(["basic", "pro", "team"], n),
            "region": rng.choice(["north", "south", "east"], n),
        }
    )
    logit = 0.15 * (20 - df.tenure) + 0.1 * (df.monthly - 50) + (df.plan == "basic") * 1.0
    df["churned"] = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return df


def register(train: pd.DataFrame, features: list[str]) -> lw.ModelVersion:
    numeric = [c for c in features if c in ("tenure", "monthly")]
    categorical = [c for c in features if c in ("plan", "region")]
    model = make_pipeline(
        make_column_transformer(
            (OneHotEncoder(handle_unknown="ignore"), categorical), (StandardScaler(), numeric)
        ),
        LogisticRegression(max_iter=500),
    )
    model.fit(train[features], train["churned"])
    with lw.start_run() as run:
        lw.log_model(model, "model", input_example=train[features].head(5))
    return lw.register_model(f"runs:/{run.id}/model", "churn")


def cli(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, env={"LOOPWRIGHT_HOME": str(home)}, timeout=300)


@pytest.fixture
def churn_versions(lw_env: Path) -> pd.DataFrame:
    """Versions 1-4 trained on all features, version 5 the champion, version 6 a near copy; returns the holdout."""
    train, holdout = churn(4000, 0), churn(2000, 1)
    features = ["tenure", "monthly", "plan", "region"]
    for _ in range(6):
        register(train, features)
    lw.set_alias("churn", "champion", 5)
    return holdout


def test_evaluate_as_the_issue_writes_it(churn_versions: pd.DataFrame) -> None:
    df = churn_versions
    result = lw.evaluate(
        "models:/churn/5", data=df, target="churned", task="classification", slices=["region"]
    )
    assert type(result).__name__ == "EvaluationResult"
    for metric in ("accuracy", "precision", "recall", "f1", "roc_auc", "pr_auc", "log_loss", "brier_score"):
        assert isinstance(result.metrics[metric], float), metric
    assert {"confusion_matrix", "calibration", "roc", "pr"} <= set(result.curves)
    scores = lw.load_model("models:/churn/5").predict_proba(df.drop(columns=["churned"]))[:, 1]
    assert result.metrics["roc_auc"] == pytest.approx(roc_auc_score(df["churned"], scores))
    assert set(result.slices) == {"region=north", "region=south", "region=east"}
    assert 0 < result.metrics["latency_p50_ms"] <= result.metrics["latency_p99_ms"]
    assert result.run_id and result.report_path is not None and result.report_path.exists()


def test_latency_of_one_model_against_itself_is_stable_enough_to_gate_on(
    churn_versions: pd.DataFrame,
) -> None:
    """Each row's best of several passes: the p99 of a model timed twice is not whichever call the OS interrupted."""
    features = churn_versions.drop(columns=["churned"])
    model = lw.load_model("models:/churn/5")
    twin = lw.load_model("models:/churn/5")
    first, second = measure_latency([model, twin], features, sample=60, batch_rows=500)
    assert first.single_rows == second.single_rows == 60
    assert 0 < first.p50_ms <= first.p99_ms and 0 < second.p50_ms <= second.p99_ms


def test_gate_cli_verbatim_passes_moves_the_alias_and_audits(
    churn_versions: pd.DataFrame, lw_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = lw_env.parent
    (folder / "gate.yaml").write_text(POLICY)
    churn_versions.to_parquet(folder / "holdout.parquet")
    monkeypatch.chdir(folder)
    done = cli(
        "gate", "models:/churn/6", "--policy", "gate.yaml", "--data", "holdout.parquet", "--target", "churned",
        "--promote", "challenger", home=lw_env,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "latency_p99_ms" in done.stdout and "region=north" in done.stdout
    assert lw.get_registered_model("churn").aliases == {"champion": 5, "challenger": 6}
    verdicts = lw.list_audit_log("churn", version=6, action="gate_verdict")
    assert len(verdicts) == 1 and verdicts[0].after["passed"] is True


def test_gate_cli_failure_exits_1_and_leaves_the_alias(
    churn_versions: pd.DataFrame, lw_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = lw_env.parent
    # a weak candidate: trained on a feature that barely matters
    register(churn(4000, 0), ["region"])
    (folder / "gate.yaml").write_text(POLICY)
    churn_versions.to_parquet(folder / "holdout.parquet")
    monkeypatch.chdir(folder)
    done = cli(
        "gate", "models:/churn/7", "--policy", "gate.yaml", "--data", "holdout.parquet", "--target", "churned",
        "--promote", "challenger", home=lw_env,
    )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    assert "FAILED" in done.stdout and "Traceback" not in done.stderr
    assert "challenger" not in lw.get_registered_model("churn").aliases
    [verdict] = lw.list_audit_log("churn", version=7, action="gate_verdict")
    assert verdict.after["passed"] is False


@pytest.mark.parametrize(
    ("policy", "named"),
    [
        ("metric_thresholds: {rocauc: {min: 0.8}}\n", "unknown metric 'rocauc'"),
        ("metric_thresholds: {roc_auc: {minimum: 0.8}}\n", "unknown rule 'minimum'"),
        ("thresholds: {roc_auc: {min: 0.8}}\n", "unknown section 'thresholds'"),
        ("metric_thresholds: {roc_auc: {min: 0.8}\n", "not valid YAML"),
    ],
)
def test_gate_cli_bad_policy_is_one_line_and_exit_2(
    churn_versions: pd.DataFrame, lw_env: Path, monkeypatch: pytest.MonkeyPatch, policy: str, named: str
) -> None:
    folder = lw_env.parent
    (folder / "gate.yaml").write_text(policy)
    churn_versions.to_parquet(folder / "holdout.parquet")
    monkeypatch.chdir(folder)
    done = cli(
        "gate", "models:/churn/6", "--policy", "gate.yaml", "--data", "holdout.parquet", "--target", "churned",
        home=lw_env,
    )  # fmt: skip
    assert done.returncode == 2
    assert named in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert lw.list_audit_log("churn", action="gate_verdict") == []


def test_gate_without_a_champion_passes_versus_rules(lw_env: Path) -> None:
    holdout = churn(2000, 1)
    register(churn(4000, 0), ["tenure", "monthly", "plan", "region"])
    verdict = lw.gate(
        "models:/churn/1", policy=yaml.safe_load(POLICY), data=holdout, target="churned", promote="champion"
    )
    assert verdict.passed
    assert lw.get_registered_model("churn").aliases == {"champion": 1}


def test_profile_in_every_natural_form_and_drift_against_the_champion(churn_versions: pd.DataFrame) -> None:
    live = churn_versions.drop(columns=["churned"])
    train = churn(4000, 0).drop(columns=["churned"])
    assert lw.profile(data=train).n_rows == 4000
    stored = lw.profile("models:/churn/5", train)
    assert stored.prediction == "prediction" and "prediction" in stored.features
    assert lw.profile(train, model="models:/churn/4").prediction == "prediction"

    same = lw.drift(reference="models:/churn@champion", current=live)
    assert same.drifted is False and same.verdict == "no drift" and same.problems == []
    assert same.prediction is not None and same.prediction.drifted is False

    shifted = live.assign(tenure=live["tenure"] * 2.5)
    report = lw.drift(reference="models:/churn@champion", current=shifted)
    assert report.drifted and report.drifted_features == ["tenure"]
    assert report.prediction is not None and report.prediction.drifted
    tenure = report.features["tenure"]
    assert tenure.test == "ks" and tenure.p_value is not None and tenure.threshold == 0.1 and tenure.drifted
    assert set(report.to_frame().index) == {"tenure", "monthly", "plan", "region", "prediction"}


def test_drift_bad_input_never_reads_as_no_drift(tmp_path: Path, sqlite_env: Path) -> None:
    ref = churn(3000, 0).drop(columns=["churned"]).assign(const=1.0)
    cur = churn(3000, 1).drop(columns=["churned"]).assign(const=1.0)

    empty = lw.drift(reference=ref, current=cur.iloc[:0])
    assert empty.verdict == "no verdict" and empty.status == "empty"
    assert {f.status for f in empty.problems} == {"empty"}

    nan = lw.drift(reference=ref, current=cur.assign(monthly=np.nan))
    assert nan.features["monthly"].status == "all_missing" and nan.features["monthly"].drifted is None
    # issue 11 item 3: an untestable feature is not "no drift"
    assert nan.verdict == "cannot judge" and nan.status == "partial" and not nan.passed

    gone = lw.drift(reference=ref, current=cur.drop(columns=["monthly"]))
    assert (
        gone.features["monthly"].status == "missing_in_current"
        and "missing" in gone.features["monthly"].message
    )

    unseen = lw.drift(
        reference=ref, current=cur.assign(plan=np.where(np.arange(3000) % 4 == 0, "enterprise", cur.plan))
    )
    assert (
        unseen.features["plan"].status == "new_categories"
        and "'enterprise'" in unseen.features["plan"].message
    )
    assert unseen.drifted_features == ["plan"]

    constant = lw.drift(reference=ref, current=cur.assign(const=2.0))
    assert constant.features["const"].status == "constant" and constant.drifted_features == ["const"]

    nothing = lw.drift(reference=ref[["tenure"]], current=cur[["monthly"]])
    assert nothing.verdict == "no verdict"

    # the CLI with --fail-on-drift: an empty current file is not a pass
    ref.to_parquet(tmp_path / "ref.parquet")
    cur.iloc[:0].to_parquet(tmp_path / "empty.parquet")
    done = cli(
        "monitor", "drift", str(tmp_path / "ref.parquet"), str(tmp_path / "empty.parquet"), "--fail-on-drift",
        home=sqlite_env,
    )  # fmt: skip
    assert done.returncode == 2, done.stdout + done.stderr
    assert "NO VERDICT" in done.stdout and "no drift:" not in done.stdout
