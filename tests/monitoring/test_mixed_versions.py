"""A window served by two versions tells one story (issue 11 item 2): v1's traffic is normal, v2's is
shifted, and the window is drifted naming v2 — in the stored window, its status (never "ok", open or
closed), the alert, ``loopwright monitor windows`` (a row per version), ``loopwright monitor report``
and the HTML report's headline, which used to say "NO DRIFT" for the version with most rows.

Traffic goes through the serving ``PredictionLog`` (the files a server writes) with chosen timestamps.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import numpy as np
from traffic import HOUR, T0, Traffic, register_classifier, sample

import loopwright as lw
from cli_process import run_cli


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return run_cli("monitor", *args)


def _serve_two_versions() -> None:
    register_classifier(seed=0)  # churn/1 with its reference profile
    register_classifier(seed=1)  # churn/2 with its own
    rng = np.random.default_rng(5)
    traffic = Traffic()
    # v1 serves most rows, normally; v2 (a canary) serves shifted inputs in the same hour
    traffic.send(sample(1500, rng), T0 + 60_000, lw.load_model("models:/churn/1"), 1)
    traffic.send(sample(1000, rng, shifted=True), T0 + 120_000, lw.load_model("models:/churn/2"), 2)
    traffic.flush()
    traffic.close()


def _check_window(w: lw.WindowSummary) -> None:
    assert w.model_versions == ["churn/1", "churn/2"] and w.n_rows == 2500
    assert w.drifted is True and w.status == "drifted"
    assert w.drifted_versions == ["churn/2"]
    assert w.versions["churn/2"]["drifted"] is True and w.versions["churn/2"]["status"] == "drifted"
    assert w.versions["churn/1"]["drifted"] is False and w.versions["churn/1"]["status"] == "ok"
    assert w.versions["churn/2"]["drifted_features"] == ["f0", "f1"]
    headline = w.headline()
    assert headline.startswith("DRIFT") and "churn/2" in headline and "f0, f1" in headline
    assert any(a.startswith("firing: dataset drift in churn/2") for a in w.alerts), w.alerts


def test_a_window_with_one_drifted_version_is_drifted_everywhere(sqlite_env: Path, tmp_path: Path) -> None:
    _serve_two_versions()

    # the window still open: drifting is not "ok"
    (open_window,) = lw.monitor("churn", window="1h", since=T0, now=T0 + 30 * 60_000)
    assert open_window.closed is False
    _check_window(open_window)

    # closed, by a later run: the same verdict, and the firing alert is kept, not repeated
    (closed,) = lw.monitor("churn", window="1h", since=T0, now=T0 + HOUR + 60_000, include_open=False)
    assert closed.closed is True
    _check_window(closed)
    history = lw.list_monitor_windows("churn")
    _check_window(history[0])
    assert history.to_frame()[["status", "verdict"]].values.tolist() == [["drifted", "drift"]]
    assert [e.rule for e in lw.get_client().store.list_alert_events("churn")] == ["drift"]

    # the HTML report: the headline is the window's, naming v2; each version has its own section
    page = lw.monitor_report("churn", tmp_path / "report.html").read_text()
    first = page.split("<section>")[1]
    assert "DRIFT DETECTED" in first and "NO DRIFT" not in first
    assert "churn/2" in first and "churn/1" in first  # the per-version breakdown
    assert re.search(r"<tr[^>]*><td>churn/2</td><td[^>]*>[^<]*</td><td>drifted</td>", first), first
    assert "models:/churn/2" in page and "models:/churn/1" in page
    windows_table = page.split("<h2>Windows</h2>")[1].split("</section>")[0]
    assert ">ok<" not in windows_table and "drifted" in windows_table

    # the CLI: the window row, then one row per version
    listed = _cli("windows", "--endpoint", "churn")
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    window_row = next(line for line in lines if "churn/1, churn/2" in line)
    assert "drifted" in window_row and " ok " not in window_row
    v1 = next(line for line in lines if "churn/1" in line and "churn/2" not in line)
    v2 = next(line for line in lines if "churn/2" in line and "churn/1" not in line)
    assert re.search(r"\bno\b", v1) and "1500" in v1.replace(",", "")
    assert re.search(r"\byes\b", v2) and "f0, f1" in v2 and "1000" in v2.replace(",", "")

    reported = _cli("report", "--endpoint", "churn", "-o", str(tmp_path / "cli-report.html"))
    assert reported.returncode == 0, reported.stderr
    assert "DRIFT" in reported.stdout and "churn/2" in reported.stdout
    assert "report written to" in reported.stdout
