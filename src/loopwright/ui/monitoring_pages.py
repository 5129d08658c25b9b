"""Deployments and monitoring pages: endpoints, traffic and latency, drift per feature, live metrics, alerts.

What the store knows of an endpoint is what it left: prediction-log files (rows, model name and
version, per-request latency) and monitor windows (served versions, drift, realised and estimated
metrics, alerts). Routes and weights are the serving process's configuration and are not recorded,
so the page shows the traffic each version actually took per window instead.

Examples
--------
>>> import numpy as np
>>> traffic = bin_traffic([(0, 10)], np.array([1, 2, 5]), np.array([10.0, 30.0, 20.0]), ["a", "b", "b"])
>>> traffic[0]["requests"], traffic[0]["p50_ms"]
(2, 20.0)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import numpy as np
from fastapi import APIRouter
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import Response

from loopwright.artifacts import BlobStore
from loopwright.reports.charts import SERIES_COLORS, grid_heatmap_svg, line_svg
from loopwright.store.entities import MonitorWindow
from loopwright.store.sql import SqlStore
from loopwright.ui.session import UIRoute, page

# the chart functions escape every name they draw, so their SVG is passed to templates as Markup

DEFAULT_WINDOWS = 48
MAX_WINDOWS = 500
# the latency and rate charts read at most this many prediction-log files (newest kept)
MAX_LOG_FILES = 200


def when(ms: int | float | None) -> str:
    """A UTC timestamp in milliseconds as ``YYYY-MM-DD HH:MM:SS`` (``""`` for none).

    >>> when(0), when(None)
    ('1970-01-01 00:00:00', '')
    """
    return "" if ms is None else datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")


def seconds(value: float | None) -> str:
    """A duration for a table cell.

    >>> seconds(0.0421), seconds(75.0), seconds(None)
    ('0.0421 s', '1 min 15 s', '')
    """
    if value is None:
        return ""
    if value < 60:
        return f"{value:.3g} s"
    return f"{int(value // 60)} min {int(value % 60)} s"


def _store(request: Request) -> SqlStore:
    store: SqlStore = request.app.state.store
    return store


def _blobs(request: Request) -> BlobStore:
    blobs: BlobStore = request.app.state.blobs
    return blobs


def bin_traffic(
    spans: Sequence[tuple[int, int]], stamps: np.ndarray, latency: np.ndarray, request_ids: Sequence[str]
) -> list[dict[str, Any]]:
    """Per window ``[start, end)``: requests (distinct ids), their rate per second and latency p50/p95
    (one value per request: a request's rows share its latency)."""
    out: list[dict[str, Any]] = []
    ids = np.asarray(request_ids, dtype=object)
    for start, end in spans:
        inside = (stamps >= start) & (stamps < end)
        _, first = np.unique(ids[inside], return_index=True) if inside.any() else ([], np.array([], int))
        per_request = latency[inside][first] if len(first) else np.array([])
        seconds = max(end - start, 1) / 1000
        out.append(
            {
                "requests": len(first),
                "rate": len(first) / seconds,
                "p50_ms": float(np.percentile(per_request, 50)) if len(per_request) else None,
                "p95_ms": float(np.percentile(per_request, 95)) if len(per_request) else None,
            }
        )
    return out


def _traffic(
    store: SqlStore, blobs: BlobStore, endpoint: str, windows: list[MonitorWindow]
) -> tuple[list[dict[str, Any]], dict[str, list[int]], int]:
    """Traffic per window from the prediction log, rows per served version per window, files skipped."""
    if not windows:
        return [], {}, 0
    import pyarrow as pa  # here: only this page reads Parquet, the server starts faster without it
    import pyarrow.parquet as pq

    spans = [(w.start_ms, w.end_ms) for w in windows]
    files = store.list_prediction_log_files(endpoint, spans[0][0], spans[-1][1])
    skipped = max(len(files) - MAX_LOG_FILES, 0)
    files = sorted(files, key=lambda f: f.max_ts_ms)[skipped:]
    stamps, latency, ids = [], [], []
    versions: dict[str, list[int]] = {}
    for f in files:
        table = pq.read_table(
            pa.BufferReader(blobs.get_bytes(f.digest)), columns=["request_id", "timestamp_ms", "latency_ms"]
        )
        ts = table.column("timestamp_ms").to_numpy()
        stamps.append(ts)
        latency.append(table.column("latency_ms").to_numpy())
        ids.extend(table.column("request_id").to_pylist())
        served = versions.setdefault(f"{f.model_name}/{f.model_version}", [0] * len(spans))
        for i, (start, end) in enumerate(spans):
            served[i] += int(((ts >= start) & (ts < end)).sum())
    if not stamps:
        return bin_traffic(spans, np.array([], np.int64), np.array([]), []), versions, skipped
    return bin_traffic(spans, np.concatenate(stamps), np.concatenate(latency), ids), versions, skipped


def _legend(names: Sequence[str], dashed: Sequence[str] = ()) -> list[dict[str, str]]:
    return [
        {"name": n, "color": SERIES_COLORS[k % len(SERIES_COLORS)], "dashed": "yes" if n in dashed else ""}
        for k, n in enumerate(names)
    ]


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and math.isfinite(value) else None


def _drift_heatmap(windows: list[MonitorWindow]) -> Markup | None:
    features = sorted({str(f) for w in windows for f in (w.drift.get("effects") or {})})
    if not features:
        return None
    values = [[_number((w.drift.get("effects") or {}).get(f)) for w in windows] for f in features]
    marked = [[f in (w.drift.get("drifted_features") or []) for w in windows] for f in features]
    return Markup(
        grid_heatmap_svg(
            features, [w.end_ms for w in windows], values, marked=marked, what="drift effect size"
        )
    )


def monitoring_router() -> APIRouter:
    """``/deployments`` (endpoints) and ``/deployments/{endpoint}`` (one endpoint's monitoring)."""
    router = APIRouter(route_class=UIRoute, include_in_schema=False)

    @router.get("/deployments")
    def deployments(request: Request) -> Response:
        store = _store(request)
        rows = []
        for endpoint in store.list_endpoints():
            firing = sorted(rule for rule, s in store.get_alert_states(endpoint).items() if s.firing)
            rows.append(
                {"endpoint": endpoint, "firing": firing, "href": f"/deployments/{quote(endpoint, safe='')}"}
            )
        return page(request, "deployments.html", rows=rows)

    @router.get("/deployments/{endpoint}")
    def deployment(request: Request, endpoint: str, windows: int = DEFAULT_WINDOWS) -> Response:
        store = _store(request)
        shown = min(max(windows, 1), MAX_WINDOWS)
        found = store.list_monitor_windows(endpoint)
        recent = found[-shown:]
        traffic, versions, skipped = _traffic(store, _blobs(request), endpoint, recent)
        times = [w.end_ms for w in recent]
        charts: dict[str, Any] = {}
        if recent:
            charts["rate"] = Markup(line_svg(times, {"requests/s": [t["rate"] for t in traffic]}, height=160))
            latency = {"p50 ms": [t["p50_ms"] for t in traffic], "p95 ms": [t["p95_ms"] for t in traffic]}
            charts["latency"] = Markup(line_svg(times, latency, height=160))
            charts["latency_legend"] = _legend(list(latency))
            realised = sorted({k for w in recent for k in w.metrics if _number(w.metrics[k]) is not None})
            estimated = sorted(
                {k for w in recent for k in w.estimated if _number(w.estimated[k]) is not None}
            )
            series = {k: [_number(w.metrics.get(k)) for w in recent] for k in realised}
            series |= {f"{k} (estimated)": [_number(w.estimated.get(k)) for w in recent] for k in estimated}
            if series:
                dashed = [n for n in series if n.endswith("(estimated)")]
                charts["metrics"] = Markup(line_svg(times, series, dashed=dashed))
                charts["metrics_legend"] = _legend(list(series), dashed)
        rows = [
            {"w": w, "traffic": t, "start": when(w.start_ms), "end": when(w.end_ms)}
            for w, t in zip(reversed(recent), reversed(traffic or [{}] * len(recent)), strict=True)
        ]
        states = sorted(store.get_alert_states(endpoint).values(), key=lambda s: s.rule)
        events = store.list_alert_events(endpoint)[-100:][::-1]
        return page(
            request,
            "deployment.html",
            endpoint=endpoint,
            total=len(found),
            shown=len(recent),
            rows=rows,
            charts=charts,
            heatmap=_drift_heatmap(recent),
            versions=versions,
            skipped=skipped,
            states=states,
            events=events,
            when=when,
        )

    return router
