"""`models predict` over files and `models convert-onnx` on a registered version, through the real CLI."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import RandomForestClassifier

import loopwright as lw
from cli_process import run_cli


def cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, env={"LOOPWRIGHT_HOME": str(home)})


@pytest.fixture
def registered(sqlite_env: Path) -> tuple[Path, pd.DataFrame, RandomForestClassifier]:
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    model = RandomForestClassifier(n_estimators=10, random_state=0).fit(X, y)
    with lw.start_run() as run:
        lw.log_model(model, "model", input_example=X.head(5))
    lw.register_model(f"runs:/{run.id}/model", "cancer")
    lw.set_alias("cancer", "champion", 1)
    return sqlite_env, X, model


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_predict_file(
    registered: tuple[Path, pd.DataFrame, RandomForestClassifier], tmp_path: Path, suffix: str
) -> None:
    home, X, model = registered
    source = tmp_path / f"in{suffix}"
    X.to_csv(source, index=False) if suffix == ".csv" else X.to_parquet(source)
    out = tmp_path / f"out{suffix}"
    result = cli(
        home,
        "models",
        "predict",
        "models:/cancer@champion",
        "--input",
        str(source),
        "--output",
        str(out),
        "--proba",
        "--chunk-rows",
        "100",
    )
    assert result.returncode == 0, result.stderr
    assert f"wrote {len(X)} predictions" in result.stdout
    got = pd.read_csv(out) if suffix == ".csv" else pd.read_parquet(out)
    np.testing.assert_array_equal(got["prediction"], model.predict(X))
    np.testing.assert_allclose(got["proba_1"], model.predict_proba(X)[:, 1])


def test_predict_bad_input_leaves_no_output(
    registered: tuple[Path, pd.DataFrame, RandomForestClassifier], tmp_path: Path
) -> None:
    home, X, _ = registered
    source = tmp_path / "in.csv"
    X.drop(columns=["mean radius"]).to_csv(source, index=False)
    out = tmp_path / "out.csv"
    result = cli(home, "models", "predict", "models:/cancer/1", "--input", str(source), "--output", str(out))
    assert result.returncode == 1 and "mean radius" in result.stderr and "Traceback" not in result.stderr
    assert not out.exists() and not list(tmp_path.glob(".out.csv*"))


def test_convert_onnx_on_a_registered_version(
    registered: tuple[Path, pd.DataFrame, RandomForestClassifier],
) -> None:
    home, X, model = registered
    before = lw.get_model_version("cancer", 1).manifest_digest
    result = cli(home, "models", "convert-onnx", "models:/cancer@champion")
    assert result.returncode == 0, result.stderr
    assert "ONNX conversion stored" in result.stdout and "max abs difference" in result.stdout
    after = lw.get_model_version("cancer", 1)
    assert after.manifest_digest != before and after.aliases == ["champion"]
    entry = lw.list_audit_log("cancer", action="package_derived")[0]
    assert entry.before == {"manifest_digest": before} and entry.after == {
        "manifest_digest": after.manifest_digest
    }
    fast = lw.load_model("models:/cancer@champion", prefer_onnx=True)
    assert fast.uses_onnx and fast.version == 1
    np.testing.assert_array_equal(fast.predict(X.head(50)), model.predict(X.head(50)))
    # converting again changes nothing
    assert cli(home, "models", "convert-onnx", "models:/cancer/1").returncode == 0
    assert lw.get_model_version("cancer", 1).manifest_digest == after.manifest_digest
