"""A broken schema is not "no drift" (issue 11 item 3): features missing from the current data, sent
with another type, or with no values to test make the verdict "cannot judge" — in ``lw.drift``, in
its ``to_dict()``, and in ``loopwright monitor drift --fail-on-drift`` (exit 2, naming them)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pandas as pd

import loopwright as lw
from cli_process import run_cli

FEATURES = [f"x{i}" for i in range(13)]


def _wine_like(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(rng.normal(10.0, 2.0, size=(n, len(FEATURES))), columns=FEATURES)


def _broken(seed: int) -> pd.DataFrame:
    """Same distribution, but ``x3`` is not sent and ``x7`` arrives as strings."""
    current = _wine_like(3000, seed).drop(columns=["x3"])
    current["x7"] = current["x7"].map(lambda v: f"{v:.2f}")
    return current


def _cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli("monitor", *args, env={"LOOPWRIGHT_HOME": str(tmp_path / "home")})


def test_missing_and_mistyped_features_cannot_be_judged(tmp_path: Path) -> None:
    report = lw.drift(_wine_like(3000, 1), _broken(2))
    assert report.drifted is False and report.drifted_features == []  # the existing API still answers
    assert report.verdict == "cannot judge"
    assert {f.name: f.status for f in report.problems} == {"x3": "missing_in_current", "x7": "type_mismatch"}
    assert report.passed is False  # what a gate or an alert checks: not "no drift"
    summary = report.to_dict()
    assert summary["verdict"] == "cannot judge"
    assert [(p["name"], p["status"]) for p in summary["problems"]] == [
        ("x3", "missing_in_current"),
        ("x7", "type_mismatch"),
    ]
    page = report.to_html(tmp_path / "drift.html").read_text()
    assert "CANNOT JUDGE" in page and "NO DRIFT" not in page
    # all values missing is untestable as well
    empty_column = _wine_like(3000, 3).assign(x5=np.nan)
    assert lw.drift(_wine_like(3000, 1), empty_column).verdict == "cannot judge"


def test_verdicts_stay_as_they_were_for_clean_and_drifted_data() -> None:
    reference = _wine_like(3000, 1)
    clean = lw.drift(reference, _wine_like(3000, 2))
    assert clean.verdict == "no drift" and clean.passed and clean.problems == []
    shifted = _broken(2).assign(x0=lambda f: f["x0"] + 2.0)
    both = lw.drift(reference, shifted)
    # drift found among the testable features is drift; the problems are still reported beside it
    assert both.verdict == "drift" and both.drifted_features == ["x0"] and not both.passed
    assert {f.name for f in both.problems} == {"x3", "x7"}
    nothing = lw.drift(reference, reference.iloc[:0])
    assert nothing.verdict == "no verdict" and not nothing.passed


def test_fail_on_drift_exits_2_naming_the_features(tmp_path: Path) -> None:
    _wine_like(3000, 1).to_parquet(tmp_path / "ref.parquet")
    _broken(2).to_parquet(tmp_path / "cur.parquet")
    _wine_like(3000, 2).to_parquet(tmp_path / "clean.parquet")

    failed = _cli(
        tmp_path, "drift", str(tmp_path / "ref.parquet"), str(tmp_path / "cur.parquet"), "--fail-on-drift"
    )
    assert failed.returncode == 2, failed.stdout + failed.stderr
    assert "CANNOT JUDGE" in failed.stdout and "no drift" not in failed.stdout.lower()
    verdict_line = next(line for line in failed.stdout.splitlines() if "CANNOT JUDGE" in line)
    assert "x3 (missing_in_current)" in verdict_line and "x7 (type_mismatch)" in verdict_line
    assert "Traceback" not in failed.stderr

    # without --fail-on-drift the command reports and succeeds; a clean file still passes
    shown = _cli(tmp_path, "drift", str(tmp_path / "ref.parquet"), str(tmp_path / "cur.parquet"))
    assert shown.returncode == 0 and "CANNOT JUDGE" in shown.stdout
    clean = _cli(
        tmp_path, "drift", str(tmp_path / "ref.parquet"), str(tmp_path / "clean.parquet"), "--fail-on-drift"
    )
    assert clean.returncode == 0 and "no drift: 0 of 13 features drifted" in clean.stdout
