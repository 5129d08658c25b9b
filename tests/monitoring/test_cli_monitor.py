"""``loopwright monitor profile|drift`` mirror ``lw.profile`` / ``lw.drift`` on files."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd

import loopwright as lw
from cli_process import run_cli


def cli(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return run_cli("monitor", *args, env={"LOOPWRIGHT_HOME": str(tmp_path / "home"), **(env or {})})


def test_profile_and_drift_from_files(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    ref = pd.DataFrame({"x": rng.normal(size=4000), "plan": rng.choice(["a", "b"], 4000)})
    cur = pd.DataFrame({"x": rng.normal(1.0, 1, 4000), "plan": rng.choice(["a", "b"], 4000)})
    ref.to_parquet(tmp_path / "ref.parquet")
    cur.to_csv(tmp_path / "cur.csv", index=False)

    made = cli(tmp_path, "profile", str(tmp_path / "ref.parquet"), "-o", str(tmp_path / "ref.json"))
    assert made.returncode == 0, made.stderr
    assert "profiled 4,000 rows, 2 features" in made.stdout
    stored = lw.Profile.from_dict(json.loads((tmp_path / "ref.json").read_text()))
    assert stored.features["x"].count == 4000

    report = tmp_path / "out" / "drift.html"
    checked = cli(tmp_path, "drift", str(tmp_path / "ref.json"), str(tmp_path / "cur.csv"), "-o", str(report))
    assert checked.returncode == 0, checked.stderr
    assert "DRIFT: 1 of 2 features drifted" in checked.stdout
    assert "wasserstein_norm" in checked.stdout and report.exists()

    failing = cli(
        tmp_path, "drift", str(tmp_path / "ref.parquet"), str(tmp_path / "cur.csv"), "--fail-on-drift"
    )
    assert failing.returncode == 1
    same = cli(
        tmp_path, "drift", str(tmp_path / "ref.parquet"), str(tmp_path / "ref.parquet"), "--fail-on-drift"
    )
    assert same.returncode == 0 and "no drift" in same.stdout


def test_errors_are_one_line(tmp_path: Path) -> None:
    missing = cli(tmp_path, "drift", str(tmp_path / "nope.parquet"), str(tmp_path / "nope.parquet"))
    assert missing.returncode != 0 and "no such file" in missing.stderr
    (tmp_path / "data.txt").write_text("x")
    odd = cli(tmp_path, "profile", str(tmp_path / "data.txt"), "-o", str(tmp_path / "p.json"))
    assert odd.returncode != 0 and "unsupported file type '.txt'" in odd.stderr
    assert "Traceback" not in missing.stderr + odd.stderr


def test_reference_profile_through_the_registry(lw_env: Path, tmp_path: Path) -> None:
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(1)
    train = pd.DataFrame({"x": rng.normal(size=500)})
    with lw.start_run() as run:
        lw.log_model(LogisticRegression().fit(train, train["x"] > 0), "model", input_example=train.head(2))
    lw.register_model(f"runs:/{run.id}/model", "churn")
    lw.set_alias("churn", "champion", 1)
    lw.flush()
    train.to_parquet(tmp_path / "train.parquet")
    train.assign(x=train["x"] + 1).to_parquet(tmp_path / "live.parquet")
    env = {k: os.environ[k] for k in ("LOOPWRIGHT_STORE_URI", "LOOPWRIGHT_ARTIFACT_URI")}
    stored = cli(tmp_path, "profile", str(tmp_path / "train.parquet"), "--model", "models:/churn/1", env=env)
    assert stored.returncode == 0, stored.stderr
    checked = cli(tmp_path, "drift", "models:/churn@champion", str(tmp_path / "live.parquet"), env=env)
    assert checked.returncode == 0, checked.stderr
    assert "DRIFT: 1 of 1 features drifted" in checked.stdout
