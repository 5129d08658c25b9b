"""Small inline SVG charts for the HTML reports: no JavaScript library, no CDN, a few KiB each.

Examples
--------
>>> svg = histogram_svg([0.0, 1.0, 2.0], [0.5, 0.5], [0.2, 0.8])
>>> svg.startswith("<svg") and svg.count("<rect") >= 4
True
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from html import escape

REFERENCE_COLOR = "#9aa5b1"
CURRENT_COLOR = "#d9480f"
SERIES_COLORS = ["#1c7ed6", "#d9480f", "#2b8a3e", "#862e9c", "#e67700", "#0b7285"]
PAD_LEFT, PAD_RIGHT, PAD_TOP, PAD_BOTTOM = 44, 10, 10, 26


def _fmt(value: float) -> str:
    if value == 0 or not math.isfinite(value):
        return "0" if value == 0 else str(value)
    magnitude = abs(value)
    if magnitude >= 1e5 or magnitude < 1e-3:
        return f"{value:.2e}"
    return f"{value:.4g}"


def _open(width: int, height: int, label: str) -> list[str]:
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(label)}">'
    ]


def _y_axis(parts: list[str], top: float, height: int, width: int, fmt: str = "{:.0%}") -> None:
    base = height - PAD_BOTTOM
    for frac in (0.0, 0.5, 1.0):
        y = base - frac * (base - PAD_TOP)
        parts.append(
            f'<line x1="{PAD_LEFT}" x2="{width - PAD_RIGHT}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>'
            f'<text x="{PAD_LEFT - 4}" y="{y + 3:.1f}" text-anchor="end">{escape(fmt.format(top * frac))}</text>'
        )


def histogram_svg(
    edges: Sequence[float],
    reference: Sequence[float],
    current: Sequence[float],
    width: int = 360,
    height: int = 160,
) -> str:
    """Reference (grey) and current (orange, translucent) shares per bin on shared ``edges``."""
    top = max([*reference, *current, 1e-12]) * 1.05
    parts = _open(width, height, "reference vs current histogram")
    _y_axis(parts, top, height, width)
    inner_w = width - PAD_LEFT - PAD_RIGHT
    base = height - PAD_BOTTOM
    scale_y = (base - PAD_TOP) / top
    n = len(reference)
    bar_w = inner_w / max(n, 1)
    for values, color, opacity in ((reference, REFERENCE_COLOR, 0.9), (current, CURRENT_COLOR, 0.55)):
        for i, v in enumerate(values):
            h = v * scale_y
            parts.append(
                f'<rect x="{PAD_LEFT + i * bar_w:.2f}" y="{base - h:.2f}" width="{max(bar_w - 0.5, 0.5):.2f}" '
                f'height="{h:.2f}" fill="{color}" fill-opacity="{opacity}"/>'
            )
    parts.append(
        f'<text x="{PAD_LEFT}" y="{height - 8}" text-anchor="start">{escape(_fmt(edges[0]))}</text>'
        f'<text x="{width - PAD_RIGHT}" y="{height - 8}" text-anchor="end">{escape(_fmt(edges[-1]))}</text>'
        "</svg>"
    )
    return "".join(parts)


def category_svg(
    labels: Sequence[str], reference: Sequence[float], current: Sequence[float], width: int = 360
) -> str:
    """Horizontal paired bars: reference share (grey) above current share (orange) per category."""
    row = 22
    height = PAD_TOP + row * len(labels) + 8
    left = 110
    top = max([*reference, *current, 1e-12])
    scale = (width - left - 50) / top
    parts = _open(width, height, "reference vs current category shares")
    for i, label in enumerate(labels):
        y = PAD_TOP + i * row
        short = label if len(label) <= 16 else label[:15] + "…"
        parts.append(
            f'<text x="{left - 6}" y="{y + 13}" text-anchor="end"><title>{escape(label)}</title>{escape(short)}</text>'
        )
        for j, (value, color) in enumerate(((reference[i], REFERENCE_COLOR), (current[i], CURRENT_COLOR))):
            parts.append(
                f'<rect x="{left}" y="{y + 2 + j * 9}" width="{max(value * scale, 0.5):.2f}" height="8" fill="{color}"/>'
            )
        parts.append(
            f'<text x="{left + max(reference[i], current[i]) * scale + 4:.1f}" y="{y + 13}">{current[i]:.1%}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def line_svg(
    times_ms: Sequence[int],
    series: Mapping[str, Sequence[float | None]],
    *,
    dashed: Sequence[str] = (),
    threshold: float | None = None,
    percent: bool = False,
    width: int = 720,
    height: int = 200,
) -> str:
    """One line per series over window end times; gaps where a value is ``None``; optional threshold line."""
    values = [v for s in series.values() for v in s if v is not None and math.isfinite(v)]
    top = max([*values, threshold or 0.0, 1e-12]) * 1.1
    parts = _open(width, height, "trend over time")
    _y_axis(parts, top, height, width, "{:.0%}" if percent else "{:.3g}")
    base = height - PAD_BOTTOM
    inner_w = width - PAD_LEFT - PAD_RIGHT
    t0, t1 = (min(times_ms), max(times_ms)) if times_ms else (0, 1)
    span = max(t1 - t0, 1)

    def x(t: int) -> float:
        return PAD_LEFT + (t - t0) / span * inner_w if len(times_ms) > 1 else PAD_LEFT + inner_w / 2

    def y(v: float) -> float:
        return base - v / top * (base - PAD_TOP)

    if threshold is not None:
        parts.append(
            f'<line x1="{PAD_LEFT}" x2="{width - PAD_RIGHT}" y1="{y(threshold):.1f}" y2="{y(threshold):.1f}" class="threshold"/>'
        )
    for k, (name, points) in enumerate(series.items()):
        color = SERIES_COLORS[k % len(SERIES_COLORS)]
        dash = ' stroke-dasharray="5 3"' if name in dashed else ""
        segment: list[str] = []
        segments: list[list[str]] = [segment]
        for t, v in zip(times_ms, points, strict=True):
            if v is None or not math.isfinite(v):
                segment = []
                segments.append(segment)
                continue
            segment.append(f"{x(t):.1f},{y(v):.1f}")
            parts.append(
                f'<circle cx="{x(t):.1f}" cy="{y(v):.1f}" r="2.5" fill="{color}"><title>{escape(name)}: {v:.4g}</title></circle>'
            )
        for seg in segments:
            if len(seg) > 1:
                parts.append(
                    f'<polyline points="{" ".join(seg)}" fill="none" stroke="{color}" stroke-width="1.8"{dash}/>'
                )
    if times_ms:
        for t, anchor in ((t0, "start"), (t1, "end")):
            label = datetime.fromtimestamp(t / 1000, UTC).strftime("%Y-%m-%d %H:%M")
            parts.append(
                f'<text x="{x(t) if len(times_ms) > 1 else PAD_LEFT:.1f}" y="{height - 8}" text-anchor="{anchor}">{label}</text>'
            )
    parts.append("</svg>")
    return "".join(parts)


def unit_xy_svg(
    series: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    *,
    x_label: str,
    y_label: str,
    diagonal: bool = False,
    markers: bool = False,
    width: int = 360,
    height: int = 300,
) -> str:
    """Lines in the unit square (ROC, precision-recall, calibration): one per series, in legend order.

    ``diagonal`` draws the dashed ``y = x`` reference; ``markers`` puts a dot (with a tooltip) on
    every point, for short series such as calibration bins.
    """
    left, bottom = PAD_LEFT, PAD_BOTTOM + 12
    inner_w, inner_h = width - left - PAD_RIGHT, height - PAD_TOP - bottom
    parts = _open(width, height, f"{y_label} against {x_label}")

    def x(v: float) -> float:
        return left + min(max(v, 0.0), 1.0) * inner_w

    def y(v: float) -> float:
        return PAD_TOP + (1 - min(max(v, 0.0), 1.0)) * inner_h

    for tick in (0.0, 0.5, 1.0):
        parts.append(
            f'<line x1="{left}" x2="{x(1):.1f}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" class="grid"/>'
            f'<text x="{left - 4}" y="{y(tick) + 3:.1f}" text-anchor="end">{tick:g}</text>'
            f'<text x="{x(tick):.1f}" y="{PAD_TOP + inner_h + 12:.1f}" text-anchor="middle">{tick:g}</text>'
        )
    parts.append(
        f'<text x="{left + inner_w / 2:.1f}" y="{height - 6}" text-anchor="middle">{escape(x_label)}</text>'
        f'<text x="12" y="{PAD_TOP + inner_h / 2:.1f}" text-anchor="middle" '
        f'transform="rotate(-90 12 {PAD_TOP + inner_h / 2:.1f})">{escape(y_label)}</text>'
    )
    if diagonal:
        parts.append(
            f'<line x1="{x(0):.1f}" y1="{y(0):.1f}" x2="{x(1):.1f}" y2="{y(1):.1f}" class="threshold"/>'
        )
    for k, (name, (xs, ys)) in enumerate(series.items()):
        color = SERIES_COLORS[k % len(SERIES_COLORS)]
        points = [(a, b) for a, b in zip(xs, ys, strict=True) if math.isfinite(a) and math.isfinite(b)]
        if len(points) > 1:
            path = " ".join(f"{x(a):.1f},{y(b):.1f}" for a, b in points)
            parts.append(f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="1.8"/>')
        if markers or len(points) == 1:
            parts.extend(
                f'<circle cx="{x(a):.1f}" cy="{y(b):.1f}" r="3" fill="{color}">'
                f"<title>{escape(name)}: ({a:.3g}, {b:.3g})</title></circle>"
                for a, b in points
            )
    parts.append("</svg>")
    return "".join(parts)


def heatmap_svg(labels: Sequence[str], matrix: Sequence[Sequence[int]], *, max_width: int = 520) -> str:
    """A confusion matrix: rows are true labels, columns predictions; shade = share of the row."""
    n = len(labels)
    left, top = 96, 34
    cell = max(min((max_width - left - 10) / max(n, 1), 64.0), 14.0)
    width, height = int(left + cell * n + 10), int(top + cell * n + 10)
    parts = _open(width, height, "confusion matrix")
    parts.append(
        f'<text x="{left + cell * n / 2:.1f}" y="10" text-anchor="middle">predicted</text>'
        f'<text x="4" y="{top - 6}" text-anchor="start">true</text>'
    )
    for j, label in enumerate(labels):
        short = label if len(label) <= 10 else label[:9] + "…"
        parts.append(
            f'<text x="{left + (j + 0.5) * cell:.1f}" y="{top - 6}" text-anchor="middle">'
            f"<title>{escape(label)}</title>{escape(short)}</text>"
        )
    for i, row in enumerate(matrix):
        total = sum(row)
        short = labels[i] if len(labels[i]) <= 12 else labels[i][:11] + "…"
        parts.append(
            f'<text x="{left - 6}" y="{top + (i + 0.5) * cell + 3:.1f}" text-anchor="end">'
            f"<title>{escape(labels[i])}</title>{escape(short)}</text>"
        )
        for j, count in enumerate(row):
            share = count / total if total else 0.0
            text_color = "#fff" if share > 0.55 else "#1f2933"
            parts.append(
                f'<rect x="{left + j * cell:.1f}" y="{top + i * cell:.1f}" width="{cell - 1:.1f}" '
                f'height="{cell - 1:.1f}" fill="{SERIES_COLORS[0]}" fill-opacity="{0.06 + 0.94 * share:.3f}">'
                f"<title>true {escape(labels[i])}, predicted {escape(labels[j])}: {count} ({share:.1%} of the row)</title></rect>"
            )
            if cell >= 22:
                parts.append(
                    f'<text x="{left + (j + 0.5) * cell:.1f}" y="{top + (i + 0.5) * cell + 3:.1f}" '
                    f'text-anchor="middle" style="fill:{text_color}">{count}</text>'
                )
    parts.append("</svg>")
    return "".join(parts)


def bars_svg(edges: Sequence[float], counts: Sequence[float], *, width: int = 360, height: int = 180) -> str:
    """A plain histogram: ``counts[i]`` rows fell in ``[edges[i], edges[i + 1])``; a line marks zero."""
    top = max([*counts, 1e-12]) * 1.05
    parts = _open(width, height, "histogram")
    _y_axis(parts, top, height, width, "{:.3g}")
    inner_w = width - PAD_LEFT - PAD_RIGHT
    base = height - PAD_BOTTOM
    scale_y = (base - PAD_TOP) / top
    bar_w = inner_w / max(len(counts), 1)
    for i, count in enumerate(counts):
        h = count * scale_y
        parts.append(
            f'<rect x="{PAD_LEFT + i * bar_w:.2f}" y="{base - h:.2f}" width="{max(bar_w - 0.5, 0.5):.2f}" '
            f'height="{h:.2f}" fill="{SERIES_COLORS[0]}"><title>[{_fmt(edges[i])}, {_fmt(edges[i + 1])}): '
            f"{count:g}</title></rect>"
        )
    lo, hi = edges[0], edges[-1]
    if lo < 0 < hi:
        zero = PAD_LEFT + (0 - lo) / (hi - lo) * inner_w
        parts.append(f'<line x1="{zero:.1f}" x2="{zero:.1f}" y1="{PAD_TOP}" y2="{base}" class="threshold"/>')
    parts.append(
        f'<text x="{PAD_LEFT}" y="{height - 8}" text-anchor="start">{escape(_fmt(lo))}</text>'
        f'<text x="{width - PAD_RIGHT}" y="{height - 8}" text-anchor="end">{escape(_fmt(hi))}</text>'
        "</svg>"
    )
    return "".join(parts)


# step/run states → fill colours of a DAG node (anything else: grey)
STATUS_COLORS = {
    "done": "#d3f9d8",
    "cached": "#d0ebff",
    "running": "#fff3bf",
    "failed": "#ffe3e3",
    "skipped": "#f1f3f5",
    "pending": "#f8f9fa",
}


def dag_svg(
    nodes: Sequence[tuple[str, Sequence[str]]],
    *,
    status: Mapping[str, str] | None = None,
    captions: Mapping[str, str] | None = None,
    links: Mapping[str, str] | None = None,
) -> str:
    """A DAG laid out left to right in layers (a node's layer is its longest path from a root): one box
    per ``(node, upstream)`` with an optional status colour (a style attribute: page CSS cannot grey
    it out), caption and link, one curve per edge.

    >>> svg = dag_svg([("load", []), ("train", ["load"]), ("eval", ["train", "load"])], links={"eval": "/x"})
    >>> svg.count('class="node"'), svg.count('class="edge"'), '<a href="/x">' in svg
    (3, 3, True)
    """
    status, captions, links = status or {}, captions or {}, links or {}
    upstream = {name: [u for u in ups if u != name] for name, ups in nodes}
    layer: dict[str, int] = {}

    def depth(name: str, seen: frozenset[str] = frozenset()) -> int:
        if name not in layer:  # a cycle or an unknown upstream counts as a root
            parents = [u for u in upstream.get(name, []) if u in upstream and u not in seen]
            layer[name] = 1 + max((depth(u, seen | {name}) for u in parents), default=-1)
        return layer[name]

    columns: dict[int, list[str]] = {}
    for name, _ in nodes:
        columns.setdefault(depth(name), []).append(name)
    box_w, box_h, gap_x, gap_y, pad = 150, 46, 56, 18, 8
    rows = max((len(c) for c in columns.values()), default=1)
    width = pad * 2 + len(columns) * box_w + max(len(columns) - 1, 0) * gap_x
    height = pad * 2 + rows * box_h + (rows - 1) * gap_y
    place: dict[str, tuple[float, float]] = {}
    for col, names in columns.items():
        offset = (rows - len(names)) * (box_h + gap_y) / 2  # centre short columns
        for i, name in enumerate(names):
            place[name] = (pad + col * (box_w + gap_x), pad + offset + i * (box_h + gap_y))
    parts = _open(max(width, 1), max(height, 1), "pipeline DAG")
    for name, ups in upstream.items():
        x2, y2 = place[name]
        for u in ups:
            if u not in place:
                continue
            x1, y1 = place[u][0] + box_w, place[u][1] + box_h / 2
            mid = (x1 + x2) / 2
            parts.append(
                f'<path class="edge" d="M{x1:.1f},{y1:.1f} C{mid:.1f},{y1:.1f} {mid:.1f},{y2 + box_h / 2:.1f} '
                f'{x2:.1f},{y2 + box_h / 2:.1f}" fill="none" stroke="#868e96" stroke-width="1.5">'
                f"<title>{escape(u)} → {escape(name)}</title></path>"
            )
    for name, _ in nodes:
        x, y = place[name]
        state = status.get(name, "")
        short = name if len(name) <= 20 else name[:19] + "…"
        box = (
            f'<g class="node" data-node="{escape(name)}"><title>{escape(name)}: {escape(state)}</title>'
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{box_w}" height="{box_h}" rx="6" '
            f'style="fill:{STATUS_COLORS.get(state, "#f1f3f5")};stroke:#495057"/>'
            f'<text x="{x + 8:.1f}" y="{y + 18:.1f}" font-weight="600">{escape(short)}</text>'
            f'<text x="{x + 8:.1f}" y="{y + 36:.1f}">{escape(captions.get(name, state))}</text></g>'
        )
        href = links.get(name)
        parts.append(f'<a href="{escape(href)}">{box}</a>' if href else box)
    parts.append("</svg>")
    return "".join(parts)


def grid_heatmap_svg(
    rows: Sequence[str],
    times_ms: Sequence[int],
    values: Sequence[Sequence[float | None]],
    *,
    marked: Sequence[Sequence[bool]] | None = None,
    what: str = "value",
    max_width: int = 900,
) -> str:
    """Rows (features) by columns (windows ending at ``times_ms``): shade = value / the largest value,
    a dark outline where ``marked`` (drifted), plain grey where a value is missing.

    >>> svg = grid_heatmap_svg(["f0", "f1"], [0, 3_600_000], [[0.1, 0.9], [None, 0.2]], marked=[[0, 1], [0, 0]])
    >>> svg.count('class="cell'), svg.count("marked")
    (4, 1)
    """
    finite = [v for row in values for v in row if v is not None and math.isfinite(v)]
    top = max([*finite, 1e-12])
    left, head = 110, 22
    cell_w = max(min((max_width - left - 10) / max(len(times_ms), 1), 40.0), 6.0)
    cell_h = 18
    width, height = int(left + cell_w * len(times_ms) + 10), int(head + cell_h * len(rows) + 22)
    parts = _open(width, height, f"{what} per feature and window")
    for i, name in enumerate(rows):
        short = name if len(name) <= 14 else name[:13] + "…"
        parts.append(
            f'<text x="{left - 6}" y="{head + (i + 0.7) * cell_h:.1f}" text-anchor="end">'
            f"<title>{escape(name)}</title>{escape(short)}</text>"
        )
        for j, t in enumerate(times_ms):
            v = values[i][j]
            flagged = bool(marked[i][j]) if marked is not None else False
            when = datetime.fromtimestamp(t / 1000, UTC).strftime("%Y-%m-%d %H:%M")
            known = v is not None and math.isfinite(v)
            fill = (
                f'fill="{CURRENT_COLOR}" fill-opacity="{0.05 + 0.95 * (v or 0.0) / top:.3f}"'
                if known
                else 'fill="#e9ecef"'
            )
            outline = ' stroke="#1f2328" stroke-width="2"' if flagged else ""
            said = _fmt(v) if known and v is not None else "no value"
            parts.append(
                f'<rect class="cell{" marked" if flagged else ""}" x="{left + j * cell_w:.1f}" '
                f'y="{head + i * cell_h:.1f}" width="{cell_w - 1:.1f}" height="{cell_h - 1:.1f}" {fill}{outline}>'
                f"<title>{escape(name)}, window ending {when}: {what} {said}"
                f"{' (drifted)' if flagged else ''}</title></rect>"
            )
    if times_ms:
        for t, x, anchor in ((times_ms[0], left, "start"), (times_ms[-1], width - 10, "end")):
            label = datetime.fromtimestamp(t / 1000, UTC).strftime("%Y-%m-%d %H:%M")
            parts.append(f'<text x="{x}" y="{height - 6}" text-anchor="{anchor}">{label}</text>')
    parts.append(f'<text x="{left}" y="14">{escape(what)} (darker: larger; outlined: drifted)</text></svg>')
    return "".join(parts)
