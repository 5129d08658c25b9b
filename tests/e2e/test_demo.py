"""`loopwright demo` (what `make demo` runs) goes through the whole loop in a fresh home."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import loopwright as lw


def test_demo_runs_the_loop(tmp_path: Path, monkeypatch: object) -> None:
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
    ):
        assert stage in out
    assert "executed nothing" in out  # the second pipeline run is fully cached
    assert "drift detected" in out and "mean radius" in out
    # the serving stage shows the metrics it greps for: requests and why batches were released
    assert "loopwright_requests_total{" in out and "loopwright_batches_total{" in out
    report = tmp_path / "demo-monitor-report.html"
    assert report.exists() and "<svg" in report.read_text()
    os.environ["LOOPWRIGHT_HOME"] = str(tmp_path)
    try:
        lw.reset_clients()
        assert lw.get_model_version_by_alias("cancer-classifier", "champion").version == 1
        actions = [e.action for e in lw.get_audit_log("cancer-classifier")]
        assert "gate_verdict" in actions
    finally:
        del os.environ["LOOPWRIGHT_HOME"]
        lw.reset_clients()
