"""Self-contained offline HTML reports: drift tables, per-feature charts, drift over time, metric trends.

The page is built from a :class:`~loopwright.monitoring.drift.DriftReport` (whose profiles hold the
histograms and category counts) and/or a list of
:class:`~loopwright.monitoring.window.WindowSummary` — never from raw rows — so a report over
millions of rows stays a few hundred KiB. CSS, the SVG charts and a few lines of JavaScript (sortable
table, "only drifted" filter) are inline: no CDN, no server, opens from disk.

Examples
--------
>>> import tempfile, numpy as np, pandas as pd
>>> from pathlib import Path
>>> from loopwright.monitoring.drift import drift
>>> ref = pd.DataFrame({"x": np.arange(500.0), "c": ["a", "b"] * 250})
>>> html = render_report(drift(ref, ref), title="Same data")
>>> "<script src" in html, "Same data" in html, html.count("<svg") >= 2
(False, True, True)
>>> with tempfile.TemporaryDirectory() as tmp:
...     write_report(Path(tmp) / "r.html", drift(ref, ref)).stat().st_size < 100_000
True
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from loopwright.errors import InvalidInput
from loopwright.monitoring.histogram import Histogram
from loopwright.monitoring.profile import CategoricalProfile, NumericProfile
from loopwright.monitoring.window import DRIFT_CELLS, WindowSummary, version_verdict
from loopwright.reports.charts import (
    CURRENT_COLOR,
    REFERENCE_COLOR,
    SERIES_COLORS,
    category_svg,
    histogram_svg,
    line_svg,
)
from loopwright.reports.page import render_page

if TYPE_CHECKING:
    from loopwright.monitoring.drift import DriftReport, FeatureDrift

MAX_CATEGORIES_SHOWN = 10


def versions_cell(w: WindowSummary) -> str:
    """The versions a window served; with several, each marked with its own verdict.

    >>> versions_cell(WindowSummary(0, 1, 9, True, 1.0, versions={
    ...     "churn/1": {"drifted": False}, "churn/2": {"drifted": True}}))
    'churn/1 (no drift), churn/2 (drifted)'
    """
    if len(w.versions) < 2:
        return ", ".join(w.model_versions)
    marks = {True: "drifted", False: "no drift", None: "not judged"}
    return ", ".join(f"{key} ({marks[d.get('drifted')]})" for key, d in w.versions.items())


def render_report(
    drift: DriftReport | None = None,
    *,
    windows: Sequence[WindowSummary] = (),
    title: str = "Drift report",
    drift_label: str = "",
    latest: WindowSummary | None = None,
    by_version: Mapping[str, DriftReport] | None = None,
) -> str:
    """The report as one HTML string.

    Parameters
    ----------
    drift : DriftReport, optional
        A comparison to show: verdict, per-feature table and reference-vs-current charts.
    windows : list of WindowSummary
        Monitoring windows, oldest first: adds drift over time, metric trends and alerts.
    title : str
        Page title.
    drift_label : str
        What the drift report compares, shown under its verdict (e.g. the window and version).
    latest : WindowSummary, optional
        The window the page leads with: its verdict covers every version it served (any drifted
        version makes it drifted), with a row per version and the window's alerts.
    by_version : mapping of ``NAME/VERSION`` to DriftReport, optional
        That window's traffic of each version against the version's own reference: a section each
        (feature table and charts), headed by the version, so no version's verdict stands for the window.

    Returns
    -------
    str

    Examples
    --------
    >>> import pandas as pd
    >>> from loopwright.monitoring.drift import drift
    >>> ref = pd.DataFrame({"x": [float(i % 50) for i in range(1000)]})
    >>> w = WindowSummary(0, 3_600_000, 2000, True, 1.0, ["x"], status="drifted", versions={
    ...     "churn/1": {"rows": 1000, "status": "ok", "drifted": False},
    ...     "churn/2": {"rows": 1000, "status": "drifted", "drifted": True, "drifted_features": ["x"]}})
    >>> html = render_report(windows=[w], latest=w, by_version={"churn/2": drift(ref, ref + 9)})
    >>> head = html.split("<section>")[1]
    >>> "DRIFT DETECTED" in head, "churn/2 drifted" in head, "models:/churn/2" in html
    (True, True, True)
    """
    if drift is None and not windows:
        raise InvalidInput("a report needs a drift report, monitoring windows, or both")
    body: list[str] = []
    if latest is not None:
        body.append(_window_verdict(latest))
    for k, (key, report) in enumerate((by_version or {}).items()):
        rows = report.current.n_rows
        label = f"the latest window's {rows:,} rows of models:/{key} against its reference profile"
        body += [
            _verdict(report, label, heading=f"models:/{key}"),
            _table(report, with_filter=k == 0, of=f"models:/{key}"),
            _charts(report, of=f"models:/{key}"),
        ]
    if drift is not None:
        body += [_verdict(drift, drift_label), _table(drift, with_filter=not by_version), _charts(drift)]
    if windows:
        body += _timeline(sorted(windows, key=lambda w: w.end_ms))
    return render_page(title, "\n".join(body), note="from profiles and window summaries (no raw rows).")


def write_report(
    path: str | Path,
    drift: DriftReport | None = None,
    *,
    windows: Sequence[WindowSummary] = (),
    title: str = "Drift report",
    drift_label: str = "",
    latest: WindowSummary | None = None,
    by_version: Mapping[str, DriftReport] | None = None,
) -> Path:
    """Render the report (see :func:`render_report`) and write it to ``path`` (parent folders are
    created); returns the path."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    html = render_report(
        drift, windows=windows, title=title, drift_label=drift_label, latest=latest, by_version=by_version
    )
    target.write_text(html, encoding="utf-8")
    return target


_WINDOW_BADGES = {
    "drift": '<span class="badge drift">DRIFT DETECTED</span>',
    "no drift": '<span class="badge ok">NO DRIFT</span>',
    "cannot judge": '<span class="badge partial">CANNOT JUDGE</span>',
    "no verdict": '<span class="badge empty">NO VERDICT</span>',
}


def _window_verdict(w: WindowSummary) -> str:
    """The headline: the window's verdict over every version it served, a row per version, its alerts."""
    span = f"{_clock(w.start_ms)} to {_clock(w.end_ms)} UTC" + ("" if w.closed else " (open)")
    rows = []
    for key, d in w.versions.items():
        verdict = DRIFT_CELLS[version_verdict(d)]
        css = {"yes": "yes", "no": "no"}.get(verdict, "na")
        share = d.get("share_drifted")
        rows.append(
            f"<tr><td>{escape(key)}</td>"
            f"{_num(float(d.get('rows', 0)), '{:,.0f}')}<td>{escape(str(d.get('status', '')))}</td>"
            f'<td class="{css}">{verdict}</td>{_num(share, "{:.0%}")}'
            f"<td>{escape(', '.join(d.get('drifted_features') or []))}</td>"
            f"<td>{escape(', '.join(d.get('problems') or []) or str(d.get('message', '')))}</td></tr>"
        )
    heads = "".join(
        f"<th>{h}</th>"
        for h in ("version", "rows", "status", "drifted", "share drifted", "drifted features", "not tested")
    )
    table = (
        f'<table class="sortable"><thead><tr>{heads}</tr></thead><tbody>{"".join(rows)}</tbody></table>'
        if rows
        else ""
    )
    alerts = "".join(f"<li>{escape(a)}</li>" for a in w.alerts)
    return (
        f"<section><h2>Verdict {_WINDOW_BADGES[w.verdict]}</h2>"
        f'<p class="muted">latest window with traffic, {span}: every version it served</p>'
        f"<p><b>{escape(w.headline())}</b></p>"
        f'<div class="stats"><div><b>{w.n_rows:,}</b>rows</div>'
        f"<div><b>{len(w.versions)}</b>versions served</div>"
        f"<div><b>{len(w.drifted_versions)}</b>versions drifted</div>"
        f"<div><b>{escape(w.status)}</b>window status</div></div>"
        f"{table}"
        + (f'<h3>Alerts in this window</h3><ul class="messages">{alerts}</ul>' if alerts else "")
        + "</section>"
    )


def _clock(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _verdict(report: DriftReport, label: str = "", heading: str = "Verdict") -> str:
    if report.status == "empty":
        badge = '<span class="badge empty">NO DATA</span>'
    elif report.verdict == "no verdict":
        badge = '<span class="badge empty">NO VERDICT</span>'
    elif report.verdict == "cannot judge":
        badge = '<span class="badge partial">CANNOT JUDGE</span>'
    elif report.drifted:
        badge = '<span class="badge drift">DRIFT DETECTED</span>'
    else:
        badge = '<span class="badge ok">NO DRIFT</span>'
    tested = sum(f.drifted is not None for f in report.features.values())
    pred = report.prediction
    pred_text = "—" if pred is None else {True: "drifted", False: "stable", None: pred.status}[pred.drifted]
    messages = "".join(f"<li>{escape(m)}</li>" for m in report.messages)
    return (
        f"<section><h2>{escape(heading)} {badge}</h2>"
        + (f'<p class="muted">{escape(label)}</p>' if label else "")
        + f'<div class="stats">'
        f"<div><b>{report.reference.n_rows:,}</b>reference rows</div>"
        f"<div><b>{report.current.n_rows:,}</b>current rows</div>"
        f"<div><b>{len(report.drifted_features)} / {tested}</b>features drifted</div>"
        f"<div><b>{report.share_drifted:.0%}</b>share drifted (dataset threshold {report.drift_share:.0%})</div>"
        f"<div><b>{escape(pred_text)}</b>prediction</div>"
        f"</div>"
        f'<p class="muted">A feature drifts when its Benjamini-Hochberg adjusted p-value is below '
        f"{report.alpha:g} <em>and</em> its effect size reaches the threshold (normalised Wasserstein for "
        f"numeric features, Jensen-Shannon distance for categorical ones).</p>"
        + (f'<ul class="messages">{messages}</ul>' if messages else "")
        + "</section>"
    )


def _num(value: float | None, fmt: str = "{:.4g}") -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return '<td class="num" data-sort="">—</td>'
    shown = f"{value:.2e}" if fmt == "p" else fmt.format(value)
    return f'<td class="num" data-sort="{value!r}">{shown}</td>'


def _flag(f: FeatureDrift) -> str:
    if f.drifted is None:
        return '<td class="na" data-sort="1">n/a</td>'
    return '<td class="yes" data-sort="2">yes</td>' if f.drifted else '<td class="no" data-sort="0">no</td>'


def _table(report: DriftReport, with_filter: bool = True, of: str = "") -> str:
    heads = ["feature", "kind", "status", "drifted", "test", "statistic", "p-value", "p adj.", "effect",
             "threshold", "PSI", "JS dist.", "W norm.", "missing ref", "missing cur", "message"]  # fmt: skip
    rows = []
    everything = [*report.features.values(), *([report.prediction] if report.prediction else [])]
    for f in everything:
        css = "drifted" if f.drifted else ("untested" if f.drifted is None else "")
        name = escape(f.name) + (" <em>(prediction)</em>" if f.is_prediction else "")
        rows.append(
            f'<tr class="{css}" data-drifted="{str(bool(f.drifted)).lower()}"><td>{name}</td><td>{f.kind}</td>'
            f"<td>{escape(f.status)}</td>{_flag(f)}<td>{escape(f.test or '—')}</td>"
            f"{_num(f.statistic)}{_num(f.p_value, 'p')}{_num(f.p_adjusted, 'p')}"
            f"<td>{escape(f.effect or '—')}</td>{_num(f.threshold)}{_num(f.psi)}{_num(f.js_distance)}"
            f"{_num(f.wasserstein_norm)}{_num(f.missing_reference, '{:.1%}')}{_num(f.missing_current, '{:.1%}')}"
            f"<td>{escape(f.message)}</td></tr>"
        )
    head = "".join(f"<th>{h}</th>" for h in heads)
    # one "only drifted" checkbox per page: it filters every table and card
    toggle = '<label class="filter"><input type="checkbox" id="only-drifted"> only drifted</label>'
    return (
        f"<section><h2>Features{escape(f' of {of}' if of else '')} {toggle if with_filter else ''}</h2>"
        f'<table class="sortable"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table></section>'
    )


def _charts(report: DriftReport, of: str = "") -> str:
    legend = (
        f'<div class="legend"><span><i style="background:{REFERENCE_COLOR}"></i>reference</span>'
        f'<span><i style="background:{CURRENT_COLOR}"></i>current</span></div>'
    )
    cards = []
    everything = [*report.features.values(), *([report.prediction] if report.prediction else [])]
    for f in everything:
        ref, cur = report.reference.features.get(f.name), report.current.features.get(f.name)
        chart = _feature_chart(ref, cur)
        if f.drifted is None:
            verdict = f'<span class="na">{escape(f.status)}</span>'
        else:
            verdict = '<span class="yes">drifted</span>' if f.drifted else '<span class="no">stable</span>'

        effect = (
            ""
            if f.effect_size is None
            else f"{escape(f.effect or '')} = {f.effect_size:.3g} (threshold {f.threshold:g})"
        )
        note = f"<p class='muted'>{escape(f.message)}</p>" if f.message else ""
        cards.append(
            f'<div class="card{" drifted" if f.drifted else ""}" data-drifted="{str(bool(f.drifted)).lower()}">'
            f"<h3><span>{escape(f.name)}</span>{verdict}</h3>{chart}<p>{effect}</p>{note}</div>"
        )
    heading = "Distributions" + escape(f" of {of}" if of else "")
    return f'<section><h2>{heading}</h2>{legend}<div class="grid-cards">{"".join(cards)}</div></section>'


def _feature_chart(ref: object, cur: object) -> str:
    if isinstance(ref, NumericProfile) and isinstance(cur, NumericProfile):
        if ref.histogram is None or cur.histogram is None:
            return "<p class='muted'>no values to chart</p>"
        a, b = Histogram.common(ref.histogram, cur.histogram)
        return histogram_svg(a.edges.tolist(), _shares(a.counts), _shares(b.counts))
    if isinstance(ref, CategoricalProfile) and isinstance(cur, CategoricalProfile):
        rt, ct = max(ref.count, 1), max(cur.count, 1)
        keys = sorted(
            set(ref.counts) | set(cur.counts),
            key=lambda k: -(ref.counts.get(k, 0) / rt + cur.counts.get(k, 0) / ct),
        )
        shown = keys[:MAX_CATEGORIES_SHOWN]
        r = [ref.counts.get(k, 0) / rt for k in shown]
        c = [cur.counts.get(k, 0) / ct for k in shown]
        rest_r, rest_c = 1 - sum(r), 1 - sum(c)
        if ref.count and cur.count and max(rest_r, rest_c) > 1e-12:
            shown, r, c = [*shown, "(other)"], [*r, rest_r], [*c, rest_c]
        return category_svg(shown, r, c) if shown else "<p class='muted'>no values to chart</p>"
    return "<p class='muted'>no chart: the feature is not comparable on both sides</p>"


def _shares(counts: np.ndarray) -> list[float]:
    total = counts.sum()
    return (counts / total).tolist() if total else [0.0] * len(counts)


def _timeline(windows: list[WindowSummary]) -> list[str]:
    times = [w.end_ms for w in windows]
    legend_items: list[str] = []

    def legend(names: Sequence[str]) -> str:
        return (
            '<div class="legend">'
            + "".join(
                f'<span><i style="background:{SERIES_COLORS[k % len(SERIES_COLORS)]}"></i>{escape(n)}</span>'
                for k, n in enumerate(names)
            )
            + "</div>"
        )

    drift_chart = line_svg(
        times, {"share of drifted features": [w.share_drifted for w in windows]}, percent=True
    )
    out = [f"<section><h2>Drift over time</h2>{legend(['share of drifted features'])}{drift_chart}"]
    features = sorted({f for w in windows for f in w.drifted_features})
    if features:
        out.append(f"<p>Features that drifted in some window: {escape(', '.join(features))}</p>")
    out.append("</section>")
    realised = sorted({k for w in windows for k in w.metrics})
    estimated = sorted({k for w in windows for k in w.estimated})
    if realised or estimated:
        series: dict[str, list[float | None]] = {}
        for k in realised:
            series[k] = [w.metrics.get(k) for w in windows]
        for k in estimated:
            series[f"{k} (estimated)"] = [w.estimated.get(k) for w in windows]
        legend_items = list(series)
        chart = line_svg(times, series, dashed=[n for n in series if n.endswith("(estimated)")])
        out.append(f"<section><h2>Live metrics</h2>{legend(legend_items)}{chart}</section>")
    out.append(_window_table(windows, realised, estimated))
    alerts = [(w.end_ms, a) for w in windows for a in w.alerts]
    rows = "".join(
        f"<tr><td>{datetime.fromtimestamp(t / 1000, UTC):%Y-%m-%d %H:%M:%S}</td><td>{escape(a)}</td></tr>"
        for t, a in alerts
    )
    body = (
        f"<table><thead><tr><th>window end (UTC)</th><th>alert</th></tr></thead><tbody>{rows}</tbody></table>"
        if alerts
        else "<p class='muted'>No alerts.</p>"
    )
    out.append(f"<section><h2>Alerts</h2>{body}</section>")
    return out


def _window_table(windows: list[WindowSummary], realised: list[str], estimated: list[str]) -> str:
    """One row per window, newest first: status, versions, rows, drift verdict, labels, metrics."""
    heads = ["window start (UTC)", "end", "status", "versions", "rows", "drift", "drifted features",
             "labels", *realised, *(f"{m} (est.)" for m in estimated)]  # fmt: skip
    rows = []
    for w in reversed(windows):
        verdict = DRIFT_CELLS[w.verdict]
        css = {"yes": "yes", "no": "no"}.get(verdict, "na")
        labels = f"{w.labelled:,} ({w.label_status})" if w.label_status else f"{w.labelled:,}"
        status = w.status + ("" if w.closed else " (open)")
        metric_cells = "".join(_num(w.metrics.get(m)) for m in realised)
        estimate_cells = "".join(_num(w.estimated.get(m)) for m in estimated)
        title = escape("; ".join(w.messages), quote=True)
        rows.append(
            f'<tr title="{title}"><td>{datetime.fromtimestamp(w.start_ms / 1000, UTC):%Y-%m-%d %H:%M:%S}</td>'
            f"<td>{datetime.fromtimestamp(w.end_ms / 1000, UTC):%H:%M:%S}</td><td>{escape(status)}</td>"
            f"<td>{escape(versions_cell(w))}</td>{_num(float(w.n_rows), '{:,.0f}')}"
            f'<td class="{css}">{verdict}</td><td>{escape(", ".join(w.drifted_features))}</td>'
            f"<td>{escape(labels)}</td>{metric_cells}{estimate_cells}</tr>"
        )
    head = "".join(f"<th>{h}</th>" for h in heads)
    return (
        f'<section><h2>Windows</h2><table class="sortable"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></section>"
    )
