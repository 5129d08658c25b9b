"""Server-drawn SVG for the UI: metric curves over steps, parallel coordinates, a lineage graph.

Points are capped before drawing (:func:`downsample` keeps each bucket's min and max, so a spike
survives), so a 10,000-step metric is a few KiB of SVG and the browser runs no chart code.

Examples
--------
>>> svg = steps_svg({"loss": [(0, 1.0), (1, 0.5), (2, 0.25)]})
>>> svg.startswith("<svg") and 'data-points="3"' in svg
True
>>> downsample([(i, float(i % 7)) for i in range(10_000)], 500)[:3]
[(0, 0.0), (6, 6.0), (41, 6.0)]
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from html import escape

from loopwright.reports.charts import SERIES_COLORS

MAX_POINTS = 1000
LEFT, RIGHT, TOP, BOTTOM = 56, 12, 12, 28


def _fmt(value: float) -> str:
    magnitude = abs(value)
    if value != 0 and (magnitude >= 1e5 or magnitude < 1e-3):
        return f"{value:.2e}"
    return f"{value:.4g}"


def downsample(points: Sequence[tuple[int, float]], limit: int = MAX_POINTS) -> list[tuple[int, float]]:
    """At most ``limit`` points: per bucket of steps its minimum and maximum, in step order."""
    if len(points) <= limit:
        return list(points)
    size = math.ceil(len(points) / (limit // 2))
    kept: list[tuple[int, float]] = []
    for start in range(0, len(points), size):
        bucket = points[start : start + size]
        low = min(bucket, key=lambda p: p[1])
        high = max(bucket, key=lambda p: p[1])
        kept.extend(sorted({low, high}))
    return kept


def smooth(points: Sequence[tuple[int, float]], weight: float) -> list[tuple[int, float]]:
    """Exponential moving average (TensorBoard's, debiased), ``weight`` in [0, 1).

    >>> smooth([(0, 0.0), (1, 1.0)], 0.5)
    [(0, 0.0), (1, 0.6666666666666666)]
    """
    if weight <= 0:
        return list(points)
    out: list[tuple[int, float]] = []
    last, n = 0.0, 0
    for step, value in points:
        if not math.isfinite(value):
            out.append((step, value))
            continue
        n += 1
        last = last * weight + (1 - weight) * value
        out.append((step, last / (1 - weight**n)))
    return out


def steps_svg(
    series: Mapping[str, Sequence[tuple[int, float]]],
    *,
    log_scale: bool = False,
    width: int = 640,
    height: int = 220,
    label: str = "metric over steps",
) -> str:
    """One polyline per series of ``(step, value)`` (already capped); log10 y axis drops values ≤ 0."""

    def usable(v: float) -> bool:
        return math.isfinite(v) and (v > 0 or not log_scale)

    def ty(v: float) -> float:
        return math.log10(v) if log_scale else v

    clean = {name: [(s, v) for s, v in pts if usable(v)] for name, pts in series.items()}
    steps = [s for pts in clean.values() for s, _ in pts]
    values = [ty(v) for pts in clean.values() for _, v in pts]
    total = sum(len(p) for p in clean.values())
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(label)}" data-points="{total}">'
    ]
    if not values:
        parts.append(f'<text x="{LEFT}" y="{height / 2:.0f}">no finite values to draw</text></svg>')
        return "".join(parts)
    s0, s1 = min(steps), max(steps)
    v0, v1 = min(values), max(values)
    if v0 == v1:
        v0, v1 = v0 - 0.5, v1 + 0.5
    inner_w, inner_h = width - LEFT - RIGHT, height - TOP - BOTTOM

    def x(s: int) -> float:
        return LEFT + (s - s0) / max(s1 - s0, 1) * inner_w

    def y(v: float) -> float:
        return TOP + (1 - (ty(v) - v0) / (v1 - v0)) * inner_h

    for frac in (0.0, 0.5, 1.0):
        raw = v0 + frac * (v1 - v0)
        yy = TOP + (1 - frac) * inner_h
        parts.append(
            f'<line x1="{LEFT}" x2="{width - RIGHT}" y1="{yy:.1f}" y2="{yy:.1f}" class="grid"/>'
            f'<text x="{LEFT - 4}" y="{yy + 3:.1f}" text-anchor="end">{_fmt(10**raw if log_scale else raw)}</text>'
        )
    parts.append(
        f'<text x="{LEFT}" y="{height - 8}">{s0}</text>'
        f'<text x="{width - RIGHT}" y="{height - 8}" text-anchor="end">step {s1}</text>'
    )
    for k, (name, pts) in enumerate(clean.items()):
        color = SERIES_COLORS[k % len(SERIES_COLORS)]
        coords = " ".join(f"{x(s):.1f},{y(v):.1f}" for s, v in pts)
        parts.append(
            f'<polyline class="series" points="{coords}" fill="none" stroke="{color}" stroke-width="1.6">'
            f"<title>{escape(name)}</title></polyline>"
        )
        if len(pts) <= 60:
            parts.extend(
                f'<circle cx="{x(s):.1f}" cy="{y(v):.1f}" r="2.5" fill="{color}">'
                f"<title>{escape(name)} step {s}: {_fmt(v)}</title></circle>"
                for s, v in pts
            )
    parts.append("</svg>")
    return "".join(parts)


def parallel_svg(
    axes: Sequence[str],
    rows: Mapping[str, Sequence[float | str | None]],
    *,
    width: int = 760,
    height: int = 260,
) -> str:
    """Parallel coordinates: one vertical axis per name in ``axes`` (the last one is the metric), one
    polyline per row, coloured by its last value. Strings are placed as categories in sorted order.

    >>> parallel_svg(["C", "auc"], {"a": [1.0, 0.8], "b": ["x", 0.9]}).count("<polyline")
    2
    """
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="parallel coordinates">'
    ]
    n = len(axes)
    if n < 2 or not rows:
        parts.append(f'<text x="20" y="{height / 2:.0f}">nothing differs to compare</text></svg>')
        return "".join(parts)
    top, bottom = 24, height - 20
    xs = [40 + i * (width - 80) / (n - 1) for i in range(n)]
    positions: list[dict[object, float]] = []
    for i, axis in enumerate(axes):
        column = [r[i] for r in rows.values() if r[i] is not None]
        numbers = [float(v) for v in column if isinstance(v, float | int)]
        labels = sorted({str(v) for v in column if not isinstance(v, float | int)})
        place: dict[object, float] = {}
        ends: tuple[str, str]
        if numbers:
            lo, hi = min(numbers), max(numbers)
            for v in numbers:
                place[v] = 0.5 if hi == lo else (v - lo) / (hi - lo)
            ends = (_fmt(lo), _fmt(hi))
        else:
            for j, label in enumerate(labels):
                place[label] = 0.5 if len(labels) == 1 else j / (len(labels) - 1)
            ends = (labels[0], labels[-1]) if labels else ("", "")
        positions.append(place)
        parts.append(
            f'<line x1="{xs[i]:.1f}" x2="{xs[i]:.1f}" y1="{top}" y2="{bottom}" class="axis"/>'
            f'<text x="{xs[i]:.1f}" y="14" text-anchor="middle">{escape(axis)}</text>'
            f'<text x="{xs[i] + 3:.1f}" y="{bottom + 12}" class="tick">{escape(ends[0])}</text>'
            f'<text x="{xs[i] + 3:.1f}" y="{top - 2}" class="tick">{escape(ends[1])}</text>'
        )
    metric = positions[-1]
    for name, row in rows.items():
        points = []
        for i, value in enumerate(row):
            key: object = float(value) if isinstance(value, float | int) else value
            if value is not None and key in positions[i]:
                points.append(f"{xs[i]:.1f},{bottom - positions[i][key] * (bottom - top):.1f}")
        last = row[-1]
        shade = metric.get(float(last), 0.5) if isinstance(last, float | int) else 0.5
        color = f"hsl({int(220 - 200 * shade)}, 70%, 45%)"
        parts.append(
            f'<polyline points="{" ".join(points)}" fill="none" stroke="{color}" stroke-width="1.6">'
            f"<title>{escape(name)}</title></polyline>"
        )
    parts.append("</svg>")
    return "".join(parts)


def graph_svg(columns: Sequence[Sequence[tuple[str, str]]], edges: Sequence[tuple[str, str]]) -> str:
    """A left-to-right layered graph: ``columns`` of ``(node id, label)``, ``edges`` between node ids.

    >>> svg = graph_svg([[("d", "dataset")], [("v", "v1")]], [("d", "v")])
    >>> svg.count("<rect"), svg.count("<line")
    (2, 1)
    """
    box_w, box_h, gap_x, gap_y = 190, 30, 70, 14
    rows = max((len(c) for c in columns), default=0)
    width = max(len(columns), 1) * (box_w + gap_x)
    height = max(rows, 1) * (box_h + gap_y) + gap_y
    where: dict[str, tuple[float, float]] = {}
    for i, column in enumerate(columns):
        for j, (node, _) in enumerate(column):
            where[node] = (10 + i * (box_w + gap_x), gap_y + j * (box_h + gap_y))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart graph" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="lineage graph">'
    ]
    for src, dst in edges:
        if src in where and dst in where:
            (x1, y1), (x2, y2) = where[src], where[dst]
            parts.append(
                f'<line x1="{x1 + box_w:.0f}" y1="{y1 + box_h / 2:.0f}" x2="{x2:.0f}" y2="{y2 + box_h / 2:.0f}" class="edge"/>'
            )
    for column in columns:
        for node, label in column:
            x, y = where[node]
            short = label if len(label) <= 26 else label[:25] + "…"
            parts.append(
                f'<g class="node"><rect x="{x:.0f}" y="{y:.0f}" width="{box_w}" height="{box_h}" rx="4"/>'
                f'<text x="{x + 8:.0f}" y="{y + 19:.0f}">{escape(short)}<title>{escape(label)}</title></text></g>'
            )
    parts.append("</svg>")
    return "".join(parts)
