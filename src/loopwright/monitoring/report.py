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
from collections.abc import Sequence
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from loopwright.errors import InvalidInput
from loopwright.monitoring.histogram import Histogram
from loopwright.monitoring.profile import CategoricalProfile, NumericProfile
from loopwright.monitoring.window import WindowSummary
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


def render_report(
    drift: DriftReport | None = None,
    *,
    windows: Sequence[WindowSummary] = (),
    title: str = "Drift report",
    drift_label: str = "",
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

    Returns
    -------
    str
    """
    if drift is None and not windows:
        raise InvalidInput("a report needs a drift report, monitoring windows, or both")
    body: list[str] = []
    if drift is not None:
        body += [_verdict(drift, drift_label), _table(drift), _charts(drift)]
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
) -> Path:
    """Render the report and write it to ``path`` (parent folders are created); returns the path."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    html = render_report(drift, windows=windows, title=title, drift_label=drift_label)
    target.write_text(html, encoding="utf-8")
    return target


def _verdict(report: DriftReport, label: str = "") -> str:
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
        f"<section><h2>Verdict {badge}</h2>"
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


def _table(report: DriftReport) -> str:
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
    return (
        '<section><h2>Features <label class="filter"><input type="checkbox" id="only-drifted"> only drifted</label></h2>'
        f'<table class="sortable"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table></section>'
    )


def _charts(report: DriftReport) -> str:
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
    return f'<section><h2>Distributions</h2>{legend}<div class="grid-cards">{"".join(cards)}</div></section>'


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
        verdict = "n/a" if w.drifted is None else ("yes" if w.drifted else "no")
        css = {"yes": "yes", "no": "no"}.get(verdict, "na")
        labels = f"{w.labelled:,} ({w.label_status})" if w.label_status else f"{w.labelled:,}"
        status = w.status + ("" if w.closed else " (open)")
        metric_cells = "".join(_num(w.metrics.get(m)) for m in realised)
        estimate_cells = "".join(_num(w.estimated.get(m)) for m in estimated)
        title = escape("; ".join(w.messages), quote=True)
        rows.append(
            f'<tr title="{title}"><td>{datetime.fromtimestamp(w.start_ms / 1000, UTC):%Y-%m-%d %H:%M:%S}</td>'
            f"<td>{datetime.fromtimestamp(w.end_ms / 1000, UTC):%H:%M:%S}</td><td>{escape(status)}</td>"
            f"<td>{escape(', '.join(w.model_versions))}</td>{_num(float(w.n_rows), '{:,.0f}')}"
            f'<td class="{css}">{verdict}</td><td>{escape(", ".join(w.drifted_features))}</td>'
            f"<td>{escape(labels)}</td>{metric_cells}{estimate_cells}</tr>"
        )
    head = "".join(f"<th>{h}</th>" for h in heads)
    return (
        f'<section><h2>Windows</h2><table class="sortable"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></section>"
    )
