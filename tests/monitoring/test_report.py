"""HTML reports: self-contained, small, and opened in a real headless Chromium without console errors."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import loopwright as lw
from browser import chromium as _chromium
from browser import console_messages as _console_messages
from loopwright.errors import InvalidInput
from loopwright.monitoring import WindowSummary, render_report, write_report

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "monitoring"


def _frames(n: int, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    ref = pd.DataFrame(
        {
            "tenure": rng.gamma(2, 10, n),
            "spend": rng.normal(50, 10, n),
            "constant": np.ones(n),
            "plan": pd.Categorical(rng.choice(["basic", "plus", "pro"], n)),
            "region": rng.choice(["n", "s", "e", "w"], n),
            "gone": rng.normal(size=n),
            "score": rng.beta(2, 5, n),
        }
    )
    cur = ref.sample(frac=1.0, random_state=seed).reset_index(drop=True)
    cur["tenure"] = rng.gamma(2, 10, n) + 8
    cur["spend"] = np.nan
    cur["region"] = rng.choice(["n", "s", "e", "w", "<script>alert(1)</script>"], n)
    return ref, cur.drop(columns=["gone"])


def _windows() -> list[WindowSummary]:
    ref, cur = _frames(5000, 1)
    hour = 3_600_000
    out = []
    for i in range(6):
        current = ref if i < 3 else cur
        report = lw.drift(ref, current, prediction="score")
        alerts = ["drift: tenure, plan"] if report.drifted else []
        out.append(
            WindowSummary.from_drift(
                report,
                start_ms=1_767_225_600_000 + i * hour,
                end_ms=1_767_225_600_000 + (i + 1) * hour,
                metrics={"accuracy": 0.9 - 0.02 * i} if i != 2 else {},
                estimated={"accuracy": 0.89 - 0.015 * i},
                alerts=alerts,
            )
        )
    return out


def test_console_check_catches_script_errors(tmp_path: Path) -> None:
    page = tmp_path / "bad.html"
    page.write_text("<html><body><script>console.error('boom'); missingFunction();</script></body></html>")
    result = _chromium(page.as_uri(), "--dump-dom", tmp_path=tmp_path)
    messages = _console_messages(result.stderr)
    assert any("boom" in m for m in messages)
    assert any("missingFunction is not defined" in m for m in messages)


def test_report_opens_in_chromium_without_console_errors(tmp_path: Path) -> None:
    ref, cur = _frames(50_000)
    report = lw.drift(ref, cur, prediction="score")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = report.to_html(ARTIFACTS / "drift-report.html", title="Churn drift")
    shot = ARTIFACTS / "drift-report.png"
    shot.unlink(missing_ok=True)
    result = _chromium(path.as_uri(), f"--screenshot={shot}", tmp_path=tmp_path)
    assert _console_messages(result.stderr) == [], result.stderr[-2000:]
    assert shot.exists() and shot.stat().st_size > 10_000
    dom = _chromium(path.as_uri(), "--dump-dom", tmp_path=tmp_path)
    assert _console_messages(dom.stderr) == []
    assert 'data-report-ready="true"' in dom.stdout  # the inline script ran to its end
    assert "DRIFT DETECTED" in dom.stdout and "Churn drift" in dom.stdout
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in dom.stdout  # category labels are escaped
    assert "<script>alert(1)</script>" not in dom.stdout


def test_monitoring_windows_report_opens_in_chromium(tmp_path: Path) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    ref, cur = _frames(5000, 2)
    path = write_report(
        ARTIFACTS / "monitor-report.html", lw.drift(ref, cur), windows=_windows(), title="Churn endpoint"
    )
    shot = ARTIFACTS / "monitor-report.png"
    shot.unlink(missing_ok=True)
    result = _chromium(path.as_uri(), f"--screenshot={shot}", tmp_path=tmp_path)
    assert _console_messages(result.stderr) == [], result.stderr[-2000:]
    assert shot.exists()
    html = path.read_text()
    assert "Drift over time" in html and "Live metrics" in html and "accuracy (estimated)" in html
    assert html.count("drift: tenure, plan") == 3  # one alert row per drifted window


def test_report_is_self_contained_and_does_not_grow_with_rows() -> None:
    sizes = []
    for n in (10_000, 300_000):
        ref, cur = _frames(n)
        html = render_report(lw.drift(ref, cur, prediction="score"), windows=_windows())
        assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html), "external resource referenced"
        assert "<link" not in html and "@import" not in html and "url(" not in html
        for name in ("tenure", "spend", "constant", "plan", "region", "gone", "score"):
            assert f"<td>{name}" in html
        assert "missing_in_current" in html and "all_missing" in html and "new_categories" in html
        sizes.append(len(html.encode()))
    assert sizes[1] < 1.2 * sizes[0] and sizes[1] < 300_000  # built from profiles, not rows


def test_windows_round_trip_and_render_alone() -> None:
    windows = _windows()
    assert [WindowSummary.from_dict(w.to_dict()) for w in windows] == windows
    assert [w.drifted for w in windows] == [False, False, False, True, True, True]
    html = render_report(windows=windows, title="Windows only")
    assert "Drift over time" in html and "<h2>Features" not in html
    with pytest.raises(InvalidInput, match="needs a drift report"):
        render_report()
