"""`loopwright demo` (what `make demo` runs) goes through the whole loop in a fresh home, and closes
it: drift in live traffic starts a retrain whose candidate is gated, canaried and promoted, then a
worse candidate is rejected; the example files it runs are the ones the repository's examples/ holds."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import loopwright as lw

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "src" / "loopwright" / "demo" / "examples"


def test_demo_runs_the_loop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = {**os.environ, "LOOPWRIGHT_HOME": str(tmp_path), "COLUMNS": "200"}
    result = subprocess.run(
        [sys.executable, "-m", "loopwright.cli", "demo"], env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    for stage in (
        "1. tracking",
        "2. a cached pipeline",
        "3. registry",
        "4. gate",
        "5. serving",
        "6. monitoring",
        "7. the loop",
        "8. the loop again",
        "9. the loop's history",
    ):
        assert stage in out
    assert "executed nothing" in out  # the second pipeline run is fully cached
    assert "drift detected" in out and "mean radius" in out
    # the serving stage shows the metrics it greps for: requests and why batches were released
    assert "loopwright_requests_total{" in out and "loopwright_batches_total{" in out
    # the printed summary says the same: one promotion, one rejection
    assert "loop summary: 1 promoted, 1 rolled back, 0 failed; churn@champion is version 2" in out
    assert "canary → promoted v2" in out and "gated → rolled_back v3" in out
    assert f"loopwright server --store-uri 'sqlite:///{tmp_path}" in out  # where to see it all in the web UI
    assert (tmp_path / "examples" / "loop.yaml").read_bytes() == (SHIPPED / "loop.yaml").read_bytes()
    report = tmp_path / "demo-monitor-report.html"
    assert report.exists() and "<svg" in report.read_text()
    monkeypatch.setenv("LOOPWRIGHT_HOME", str(tmp_path))  # restored (or removed) after the test
    try:
        lw.reset_clients()
        assert lw.get_model_version_by_alias("cancer-classifier", "champion").version == 1
        actions = [e.action for e in lw.list_audit_log("cancer-classifier")]
        assert "gate_verdict" in actions
        # the loop's history: cycle 1 drift → retraining → gated → canary → promoted; cycle 2 forced,
        # gated (failed) → rolled_back, and the champion stays the promoted version
        history = [(t.cycle, t.to_state, t.version) for t in lw.list_loop_history("churn")]
        assert history == [
            (1, "retraining", None),
            (1, "gated", 2),
            (1, "canary", 2),
            (1, "promoted", 2),
            (2, "retraining", None),
            (2, "gated", 3),
            (2, "rolled_back", 3),
        ]
        first = lw.list_loop_history("churn", cycle=1)[0]
        assert first.reason.startswith("drift in window") and "monthly_charges" in first.reason
        assert lw.list_loop_history("churn", cycle=2)[-1].reason.startswith("gate failed")
        assert lw.get_model_version_by_alias("churn", "champion").version == 2
        assert "loopwright.loop.rejected" in lw.get_model_version("churn", 3).tags
    finally:
        lw.reset_clients()  # the clients of the demo's home are not left behind


def test_the_repository_examples_are_the_files_the_demo_ships() -> None:
    """One source of truth (the package's demo/examples); examples/ at the root is its copy."""
    shipped = sorted(p.name for p in SHIPPED.iterdir() if p.is_file())
    assert shipped == ["README.md", "churn_pipeline.py", "deployment.yaml", "gate.yaml", "loop.yaml"]
    copied = sorted(p.name for p in (ROOT / "examples").iterdir() if p.is_file())
    assert copied == shipped
    for name in shipped:
        assert (ROOT / "examples" / name).read_bytes() == (SHIPPED / name).read_bytes(), (
            f"examples/{name} differs from src/loopwright/demo/examples/{name}: copy it over"
        )
