"""``loopwright monitor …`` - mirrors ``lw.profile`` and ``lw.drift`` on files, and ``lw.monitor``,
``lw.list_monitor_windows`` and ``lw.monitor_report`` on a serving endpoint's prediction log.

Data files are Parquet (``.parquet``/``.pq``) or CSV; a ``.json`` file is a stored profile; a
reference may also be a model URI whose version carries a reference profile.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import typer
from rich.table import Table

from loopwright.cli.render import Output, OutputOption, console, print_json, table
from loopwright.errors import InvalidInput
from loopwright.monitoring import (
    Monitor,
    Profile,
    WindowSummary,
    drift,
    list_monitor_windows,
    monitor_report,
    profile,
)
from loopwright.monitoring.window import DRIFT_CELLS, version_verdict

app = typer.Typer(
    help="Profile data, check it for drift, and monitor a serving endpoint's live traffic.",
    no_args_is_help=True,
)


def _split(names: str | None) -> list[str] | None:
    return [n.strip() for n in names.split(",") if n.strip()] if names else None


def _read(path: Path) -> pd.DataFrame | Profile:
    if not path.is_file():
        raise InvalidInput(f"no such file: {path}")
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        return pd.read_parquet(path)
    if suffix == ".csv":
        return pd.read_csv(path)
    if suffix == ".json":
        try:
            return Profile.from_dict(json.loads(path.read_text()))
        except json.JSONDecodeError as error:
            raise InvalidInput(f"{path} is not valid JSON: {error}") from None
    raise InvalidInput(f"unsupported file type {path.suffix!r}: use .parquet, .csv or a profile .json")


@app.command("profile")
def profile_(
    data: Path = typer.Argument(..., help="Parquet or CSV file."),
    output: Path = typer.Option(None, "--output", "-o", help="Write the profile JSON here."),
    model: str = typer.Option(
        None, "--model", "-m", help="Store it with this version: models:/NAME/VERSION."
    ),
    categorical: str = typer.Option(None, "--categorical", "-c", help="Comma-separated categorical columns."),
    prediction: str = typer.Option(None, "--prediction", "-p", help="The prediction column."),
) -> None:
    """Profile a data file into a mergeable JSON profile (a drift reference)."""
    frame = _read(data)
    if isinstance(frame, Profile):
        raise InvalidInput(f"{data} is already a profile")
    if output is None and model is None:
        raise InvalidInput("say where the profile goes: --output FILE and/or --model models:/NAME/VERSION")
    result = profile(frame, categorical=_split(categorical), prediction=prediction, model=model)
    if output is not None:
        output.write_text(json.dumps(result.to_dict()))
    where = " and ".join(str(w) for w in (output, model) if w is not None)
    console.print(f"profiled {result.n_rows:,} rows, {len(result.features)} features -> {where}")


@app.command("drift")
def drift_(
    reference: str = typer.Argument(
        ..., help="Reference data (Parquet/CSV), profile (.json) or models:/ URI."
    ),
    current: Path = typer.Argument(..., help="Current data (Parquet/CSV) or profile (.json)."),
    categorical: str = typer.Option(None, "--categorical", "-c", help="Comma-separated categorical columns."),
    prediction: str = typer.Option(None, "--prediction", "-p", help="The prediction column."),
    report: Path = typer.Option(None, "--report", "-o", help="Also write the HTML report here."),
    drift_share: float = typer.Option(0.0, help="Share of drifted features that makes the dataset drift."),
    fail_on_drift: bool = typer.Option(
        False,
        "--fail-on-drift",
        help="Exit 1 when the dataset drifted, 2 when it cannot be judged (features missing, "
        "of another type or without values) or nothing could be tested.",
    ),
) -> None:
    """Compare current data with reference data feature by feature and print the verdicts."""
    result = drift(
        reference if reference.startswith("models:/") else _read(Path(reference)),
        _read(current),
        categorical=_split(categorical),
        prediction=prediction,
        drift_share=drift_share,
    )
    rows = [*result.features.values(), *([result.prediction] if result.prediction else [])]
    console.print(
        table(
            "drift",
            [
                "feature",
                "kind",
                "status",
                "drifted",
                "test",
                "p adj.",
                "effect",
                "value",
                "threshold",
                "message",
            ],
            [
                (
                    f.name + (" (prediction)" if f.is_prediction else ""),
                    f.kind,
                    f.status,
                    "n/a" if f.drifted is None else ("yes" if f.drifted else "no"),
                    f.test,
                    f.p_adjusted,
                    f.effect,
                    f.effect_size,
                    f.threshold,
                    f.message,
                )
                for f in rows
            ],
        )
    )
    console.print(result.headline(), markup=False, highlight=False)
    for message in result.messages:
        console.print(f"note: {message}", markup=False, highlight=False)
    if report is not None:
        console.print(f"report written to {result.to_html(report)}")
    if fail_on_drift and result.verdict in ("no verdict", "cannot judge"):
        raise typer.Exit(2)
    if fail_on_drift and result.drifted:
        raise typer.Exit(1)


def windows_table(title: str, windows: Sequence[WindowSummary]) -> Table:
    """One row per window; a window served by several versions is followed by a row per version
    (its rows, status, drift verdict and drifted features against its own reference)."""
    realised = sorted({k for w in windows for k in w.metrics})
    estimated = sorted({k for w in windows for k in w.estimated})
    metrics = sorted(set(realised) | set(estimated))
    columns = ["window (UTC)", "status", "versions", "rows", "drift", "drifted features", "labels"]
    for m in metrics:
        columns += [m] if m not in estimated else ([m, f"{m} (est.)"] if m in realised else [f"{m} (est.)"])
    columns.append("alerts")
    rows = []
    for w in windows:
        start = datetime.fromtimestamp(w.start_ms / 1000, UTC)
        end = datetime.fromtimestamp(w.end_ms / 1000, UTC)
        cells: list[object] = [
            f"{start:%Y-%m-%d %H:%M:%S}-{end:%H:%M:%S}",
            w.status + ("" if w.closed else " (open)"),
            ", ".join(w.model_versions),
            w.n_rows,
            DRIFT_CELLS[w.verdict],
            _few(w.drifted_features),
            f"{w.labelled} ({w.label_status})" if w.label_status else w.labelled,
        ]
        for m in metrics:
            if m in realised:
                cells.append(_short(w.metrics.get(m)))
            if m in estimated:
                cells.append(_short(w.estimated.get(m)))
        # "firing: dataset drift: 5 feature(s) drifted (…)" → "firing: dataset drift"; the log line has it all
        cells.append("; ".join(":".join(a.split(":")[:2]) for a in w.alerts))
        rows.append(cells)
        if len(w.versions) > 1:
            rows += [_version_row(key, detail, len(columns)) for key, detail in w.versions.items()]
    return table(title, columns, rows, whole={"window (UTC)"})


def _windows_csv(windows: Sequence[WindowSummary]) -> None:
    """One row per window: the table's columns with exact numbers and every drifted feature."""
    table_ = windows_table("", windows)
    columns = [str(c.header) for c in table_.columns]
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(columns)
    for w in windows:
        cells = {
            "window (UTC)": f"{datetime.fromtimestamp(w.start_ms / 1000, UTC).isoformat()}/"
            f"{datetime.fromtimestamp(w.end_ms / 1000, UTC).isoformat()}",
            "status": w.status + ("" if w.closed else " (open)"),
            "versions": " ".join(w.model_versions),
            "rows": w.n_rows,
            "drift": DRIFT_CELLS[w.verdict],
            "drifted features": " ".join(w.drifted_features),
            "labels": w.labelled,
            "alerts": "; ".join(w.alerts),
        }
        for m, v in w.metrics.items():
            cells[m] = v
        for m, v in w.estimated.items():
            cells[f"{m} (est.)"] = v
        writer.writerow(["" if cells.get(c) is None else cells.get(c) for c in columns])


def _version_row(key: str, detail: dict[str, Any], width: int) -> list[object]:
    """A served version's own verdict, under its window's row (metrics are the window's: blank)."""
    untested = detail.get("problems") or []
    cells: list[object] = [
        "  └ version",
        detail.get("status", ""),
        key,
        detail.get("rows", 0),
        DRIFT_CELLS[version_verdict(detail)],
        _few(detail.get("drifted_features") or []) + (f" (not tested: {_few(untested)})" if untested else ""),
    ]
    return cells + [""] * (width - len(cells))


def _short(value: float | None) -> str:
    return "" if value is None else f"{value:.4g}"


def _few(names: Sequence[str], shown: int = 3) -> str:
    """The first names, and how many more: a table cell stays short however many features drift."""
    more = len(names) - shown
    return ", ".join(names[:shown]) + (f" +{more} more" if more > 0 else "")


def _print_windows(endpoint: str, windows: Sequence[WindowSummary]) -> None:
    if not windows:
        console.print(f"no windows due for endpoint {endpoint!r}")
        return
    console.print(windows_table(f"monitor {endpoint}", windows))
    for w in windows:
        for message in w.messages:
            console.print(f"note ({datetime.fromtimestamp(w.start_ms / 1000, UTC):%H:%M:%S}): {message}")


@app.command("run")
def run_(
    endpoint: str = typer.Option(..., "--endpoint", "-e", help="The serving endpoint."),
    window: str = typer.Option("1h", "--window", "-w", help="Window length: 5m, 1h, 1d …"),
    since: str = typer.Option(
        None, help="Backfill every window from this time (ISO 8601, or 6h = six hours ago)."
    ),
    now: str = typer.Option(None, help="Use this time as the clock (ISO 8601; replays and tests)."),
    alerts: Path = typer.Option(None, "--alerts", "-a", help="Alert rules (YAML)."),
    webhook: str = typer.Option(None, help="POST alerts as JSON to this URL."),
    task: str = typer.Option(None, help="classification or regression (default: inferred)."),
    closed_only: bool = typer.Option(False, "--closed-only", help="Skip the window in progress."),
    grace: str = typer.Option("30s", help="A window closes this long after its end (late log writes)."),
    schedule: bool = typer.Option(False, "--schedule", help="Repeat every window until interrupted."),
    every: str = typer.Option(None, help="Repeat at this interval (5m …) until interrupted."),
    report: Path = typer.Option(None, "--report", "-o", help="Also write the HTML report here."),
) -> None:
    """Judge an endpoint's live traffic per window: drift, live and estimated metrics, alerts."""
    runner = Monitor(
        endpoint,
        window,
        alerts=alerts,
        webhook=webhook,
        task=task,  # type: ignore[arg-type]  # validated by Monitor
        include_open=not closed_only,
        grace=grace,
    )

    def show(windows: Sequence[WindowSummary]) -> None:
        _print_windows(endpoint, windows)
        if report is not None and windows:
            console.print(f"report written to {monitor_report(endpoint, report, window=window)}")

    if not (schedule or every):
        show(runner.run(since=since, now=now))
        return
    if now is not None:
        raise InvalidInput("--now fixes the clock: it cannot be combined with --schedule/--every")
    console.print(f"monitoring {endpoint!r} every {every or window}; Ctrl-C stops")
    try:
        runner.run_forever(every, since=since, on_run=show)
    except KeyboardInterrupt:
        console.print("stopped")


@app.command("windows")
def windows_(
    endpoint: str = typer.Option(..., "--endpoint", "-e", help="The serving endpoint."),
    window: str = typer.Option(None, "--window", "-w", help="Only windows of this length."),
    since: str = typer.Option(None, help="Only windows from this time (ISO 8601, or 24h = a day ago)."),
    limit: int = typer.Option(50, help="Show at most this many of the most recent windows."),
    output: Output = OutputOption,
) -> None:
    """List an endpoint's stored monitoring windows, oldest first."""
    history = list_monitor_windows(endpoint, window=window, since=since)
    if output is Output.json:  # the windows' to_dict(), an empty list when there are none
        print_json([w.to_dict() for w in history[-limit:]])
        return
    if output is Output.csv:
        _windows_csv(history[-limit:])
        return
    if not history:
        console.print(f"no monitoring windows stored for endpoint {endpoint!r}")
        return
    console.print(windows_table(f"monitor windows {endpoint}", history[-limit:]))


@app.command("report")
def report_(
    endpoint: str = typer.Option(..., "--endpoint", "-e", help="The serving endpoint."),
    output: Path = typer.Option(..., "--output", "-o", help="Where to write the HTML page."),
    window: str = typer.Option(None, "--window", "-w", help="Only windows of this length."),
    since: str = typer.Option(None, help="Only windows from this time (ISO 8601, or 7d = a week ago)."),
    limit: int = typer.Option(500, help="At most this many of the most recent windows."),
) -> None:
    """Write the endpoint's self-contained offline monitoring report (HTML)."""
    path = monitor_report(endpoint, output, window=window, since=since, limit=limit)
    # the page's headline, here too: every version the latest window served
    history = list_monitor_windows(endpoint, window=window or _latest_width(endpoint), since=since)
    latest = history.latest_with_traffic()
    if latest is not None:
        console.print(windows_table(f"latest window with traffic, {endpoint}", [latest]))
        console.print(latest.headline(), markup=False, highlight=False)
    console.print(f"report written to {path} ({path.stat().st_size / 1024:.0f} KiB)")


def _latest_width(endpoint: str) -> int | None:
    """The length of the endpoint's newest stored window (what the report covers by default)."""
    stored = list_monitor_windows(endpoint)
    return stored[-1].end_ms - stored[-1].start_ms if stored else None
