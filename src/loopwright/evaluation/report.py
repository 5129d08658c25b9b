"""The evaluation report: one offline HTML page with the metrics, latency, plots and slices.

Plots are inline SVG from :mod:`loopwright.reports.charts`: ROC and precision-recall curves (one
line per class for multiclass, one-vs-rest), calibration (observed frequency against mean
predicted probability per bin), the confusion matrix, and for regression the residual histogram.
The page is built from the result's summaries (curves are thinned to 200 points), never from raw
rows, so it stays small whatever the data size.
"""

from __future__ import annotations

import math
from html import escape
from typing import TYPE_CHECKING, Any

from loopwright.reports.charts import SERIES_COLORS, bars_svg, heatmap_svg, unit_xy_svg
from loopwright.reports.page import render_page

if TYPE_CHECKING:
    from loopwright.evaluation.result import EvaluationResult

MAX_CURVES = len(SERIES_COLORS)


def render_evaluation(result: EvaluationResult) -> str:
    """The report for ``result`` as one HTML string."""
    body = [_summary(result), _metrics_table(result), _plots(result)]
    if result.slices:
        body.append(_slices_table(result))
    title = f"Evaluation of {result.model_uri}"
    return render_page(
        title, "\n".join(body), note=f"from {result.n_rows:,} rows (summaries only, no raw rows)."
    )


def _value(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, int) or (math.isfinite(value) and abs(value) >= 1e4):
        return f"{value:,.0f}"
    return f"{value:.4g}" if math.isfinite(value) else str(value)


def _summary(result: EvaluationResult) -> str:
    lat = result.latency
    facts = [(result.task, "task"), (f"{result.n_rows:,}", "rows"), (escape(result.target), "target")]
    if lat is not None:
        facts += [
            (f"{lat.p50_ms:.3g} / {lat.p99_ms:.3g} ms", f"single-row p50 / p99 ({lat.single_rows} calls)"),
            (f"{lat.throughput_rows_per_s:,.0f}", f"rows/s in batch ({lat.batch_rows:,} rows)"),
        ]
    if result.classes is not None:
        shown = ", ".join(str(c) for c in result.classes[:12]) + (" …" if len(result.classes) > 12 else "")
        facts.insert(3, (escape(shown), "classes"))
    stats = "".join(f"<div><b>{value}</b>{escape(label)}</div>" for value, label in facts)
    notes = "".join(f"<li>{escape(n)}</li>" for n in result.notes)
    run = f"<p class='muted'>Tracking run {escape(result.run_id)}</p>" if result.run_id else ""
    return (
        f"<section><h2>{escape(result.model_uri)}</h2><div class='stats'>{stats}</div>{run}"
        + (f"<ul class='muted'>{notes}</ul>" if notes else "")
        + "</section>"
    )


def _metrics_table(result: EvaluationResult) -> str:
    reasons = result.missing.get("overall", {})
    rows = "".join(
        f"<tr><td>{escape(name)}</td><td class='num'>{_value(value)}</td>"
        f"<td class='muted'>{escape(reasons.get(name, ''))}</td></tr>"
        for name, value in result.metrics.items()
    )
    return (
        "<section><h2>Metrics</h2><table><thead><tr><th>metric</th><th>value</th><th>note</th></tr></thead>"
        f"<tbody>{rows}</tbody></table></section>"
    )


def _legend(names: list[str]) -> str:
    items = "".join(
        f'<span><i style="background:{SERIES_COLORS[k % len(SERIES_COLORS)]}"></i>{escape(n)}</span>'
        for k, n in enumerate(names)
    )
    return f'<div class="legend">{items}</div>'


def _figure(title: str, svg: str, caption: str = "", legend: list[str] | None = None) -> str:
    return (
        f'<div class="card"><h3><span>{escape(title)}</span></h3>{_legend(legend) if legend else ""}'
        f"<figure>{svg}<figcaption>{escape(caption)}</figcaption></figure></div>"
    )


def _plots(result: EvaluationResult) -> str:
    curves = result.curves
    cards: list[str] = []
    if result.task == "classification":
        roc = dict(list(curves.get("roc", {}).items())[:MAX_CURVES])
        if roc:
            series = {k: (v["fpr"], v["tpr"]) for k, v in roc.items()}
            cards.append(
                _figure(
                    "ROC curve",
                    unit_xy_svg(
                        series, x_label="false positive rate", y_label="true positive rate", diagonal=True
                    ),
                    _auc_caption(result, "roc_auc", "ROC AUC"),
                    [f"class {k}" for k in series],
                )
            )
        pr = dict(list(curves.get("pr", {}).items())[:MAX_CURVES])
        if pr:
            series = {k: (v["recall"], v["precision"]) for k, v in pr.items()}
            cards.append(
                _figure(
                    "Precision-recall curve",
                    unit_xy_svg(series, x_label="recall", y_label="precision"),
                    _auc_caption(result, "pr_auc", "PR AUC (average precision)"),
                    [f"class {k}" for k in series],
                )
            )
        calibration = dict(list(curves.get("calibration", {}).items())[:MAX_CURVES])
        if calibration:
            series = {k: (v["prob_pred"], v["prob_true"]) for k, v in calibration.items()}
            cards.append(
                _figure(
                    "Calibration",
                    unit_xy_svg(
                        series,
                        x_label="mean predicted probability",
                        y_label="observed frequency",
                        diagonal=True,
                        markers=True,
                    ),
                    "10 equal-width bins; the dashed diagonal is perfect calibration",
                    [f"class {k}" for k in series],
                )
            )
        matrix = curves.get("confusion_matrix")
        if matrix:
            cards.append(
                _figure(
                    "Confusion matrix",
                    heatmap_svg(matrix["labels"], matrix["matrix"]),
                    "rows: true label, columns: predicted label; shade: share of the row",
                )
            )
        if not roc and not pr:
            cards.append(
                "<div class='card'><p class='muted'>No ROC, PR or calibration plots: "
                + escape(result.reason("roc_auc") or "no probabilities")
                + "</p></div>"
            )
    else:
        res = curves.get("residuals")
        if res:
            q = res["quantiles"]
            cards.append(
                _figure(
                    "Residuals (actual - predicted)",
                    bars_svg(res["edges"], res["counts"]),
                    f"median {q['p50']:.4g}; 5-95 % range {q['p05']:.4g} to {q['p95']:.4g}; "
                    "the outer 0.5 % on each side is counted in the end bins",
                )
            )
    return f"<section><h2>Plots</h2><div class='grid-cards'>{''.join(cards)}</div></section>"


def _auc_caption(result: EvaluationResult, metric: str, label: str) -> str:
    value = result.metrics.get(metric)
    text = f"{label} {value:.4f}" if value is not None else f"{label}: {result.reason(metric)}"
    if result.classes is not None and len(result.classes) > 2:
        text += " (macro one-vs-rest)"
    return text


def _slices_table(result: EvaluationResult) -> str:
    names = [m for m in next(iter(result.slices.values())) if m != "n"]
    head = "".join(f"<th>{escape(h)}</th>" for h in ["slice", "n", *names])
    rows = []
    for scope, values in result.slices.items():
        reasons = result.missing.get(scope, {})
        cells = [
            f"<td>{escape(scope)}</td>",
            f'<td class="num" data-sort="{values["n"]}">{values["n"]:,}</td>',
        ]
        for name in names:
            value = values.get(name)
            if value is None:
                cells.append(f'<td class="na" data-sort="" title="{escape(reasons.get(name, ""))}">—</td>')
            else:
                cells.append(f'<td class="num" data-sort="{value!r}">{_value(value)}</td>')
        rows.append(f"<tr>{''.join(cells)}</tr>")
    return (
        "<section><h2>Slices</h2><p class='muted'>One row per value of each slice column; "
        "a dash is a metric undefined on that slice (hover for the reason).</p>"
        f"<table class='sortable'><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table></section>"
    )
