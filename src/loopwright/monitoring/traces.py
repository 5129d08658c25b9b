"""Live metrics of an LLM app from its stored traces, in windows, with the tabular alert rules.

:func:`trace_windows` reads the traces a filter matches (``lw.search_traces`` syntax) and cuts them
into fixed windows; each becomes a :class:`~loopwright.monitoring.window.WindowSummary` whose
``metrics`` are

* ``latency_p50_ms``, ``latency_p95_ms``, ``latency_max_ms``: trace durations;
* ``error_rate``: the share of traces with status ``error``;
* ``input_tokens``, ``output_tokens``, ``cost``: sums over the window (what spans reported);
* ``cost_per_trace``: the mean cost of the traces that reported one;
* ``score.NAME``: the mean of numeric span attributes named ``score.NAME`` (set them where a judge
  or a user rating is known: ``span.set_attribute("score.relevance", 0.8)``), read from each
  trace's spans (``scores=False`` skips that read).

``n_rows`` and ``labelled`` are the window's trace count (every trace carries its own outcome), and
there is no drift verdict (``drifted=None``). :func:`monitor_traces` judges the windows with an
:class:`~loopwright.monitoring.alerts.AlertConfig` exactly as tabular monitoring does: the
``metrics:`` rules (``error_rate: {max: 0.05}``, ``latency_p95_ms: {max: 2000}``,
``score.relevance: {min: 0.7}``), ``min_labels`` as the fewest traces a window needs, the same
per-rule state (firing once, resolved once) and webhook.

Examples
--------
>>> import tempfile
>>> from loopwright.llm.tracing import span
>>> from loopwright.tracking.client import Client
>>> home = tempfile.mkdtemp()
>>> client = Client(f"sqlite:///{home}/lw.db", f"{home}/artifacts")
>>> for i in range(4):
...     with span("answer", client=client) as s:
...         s.set_attribute("score.relevance", i / 4)
>>> [window] = [w for w in trace_windows("name = 'answer'", window="1d", client=client) if w.n_rows]
>>> window.n_rows, window.metrics["error_rate"], window.metrics["score.relevance"]
(4, 0.0, 0.375)
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import numpy as np

from loopwright.durations import parse_duration
from loopwright.monitoring.alerts import AlertConfig, Alerter
from loopwright.monitoring.window import WindowSummary
from loopwright.store.entities import Trace

SCORE_PREFIX = "score."


def trace_windows(
    filter: str | None = None,
    *,
    window: str | int | float | timedelta = "1h",
    since: str | int | float | timedelta = "1d",
    scores: bool = True,
    max_traces: int = 10_000,
    endpoint: str = "traces",
    client: Any = None,
) -> list[WindowSummary]:
    """Windows of trace metrics (oldest first) over the last ``since``, aligned to ``window``.

    Parameters
    ----------
    filter:
        Which traces (``lw.search_traces`` syntax, e.g. ``"name = 'support-bot'"``); all by default.
    window, since:
        Window length and how far back to look (durations: ``"5m"``, ``"1h"``, a ``timedelta``).
    scores:
        Read each trace's spans for ``score.*`` attributes (one read per trace).
    max_traces:
        The newest traces taken at most.
    endpoint:
        The name the windows (and their alert states) carry.
    client:
        Store to read (default: the environment's).
    """
    from loopwright.llm.tracing import get_trace, search_traces

    size = parse_duration(window)
    now = int(time.time() * 1000)
    start = (now - parse_duration(since)) // size * size
    bound = f"start_time >= {start}"
    # filters are conjunctions: the time bound is one more clause
    traces = search_traces(
        f"{filter} and {bound}" if filter else bound, max_results=max_traces, client=client
    )
    buckets: dict[int, list[Trace]] = {}
    for t in traces:
        buckets.setdefault(t.start_us // 1000 // size * size, []).append(t)
    out = []
    for begin in range(start, now + 1, size):
        chosen = buckets.get(begin, [])
        spans = [get_trace(t.id, client=client) for t in chosen] if scores else []
        out.append(
            WindowSummary(
                start_ms=begin,
                end_ms=begin + size,
                n_rows=len(chosen),
                drifted=None,
                share_drifted=None,
                metrics=_metrics(chosen, spans),
                endpoint=endpoint,
                status="ok" if chosen else "empty",
                closed=begin + size <= now,
                labelled=len(chosen),
                label_status="complete",
            )
        )
    return out


def monitor_traces(
    filter: str | None = None,
    *,
    alerts: AlertConfig | dict[str, Any] | str,
    window: str | int | float | timedelta = "1h",
    since: str | int | float | timedelta = "1d",
    endpoint: str = "traces",
    client: Any = None,
) -> list[WindowSummary]:
    """:func:`trace_windows`, judged by the alert rules (states and events stored, webhook called);
    each window's ``alerts`` lists the transitions it caused.

    >>> config = AlertConfig.from_dict({"metrics": {"error_rate": {"max": 0.1}}})  # doctest: +SKIP
    >>> monitor_traces("name = 'support-bot'", alerts=config)  # doctest: +SKIP
    """
    from loopwright.tracking.client import get_client

    config = AlertConfig.load(alerts)
    store = (client or get_client()).store
    windows = trace_windows(filter, window=window, since=since, endpoint=endpoint, client=client)
    judged = [w for w in windows if w.n_rows]
    alerter = Alerter(endpoint, config, store)
    states, events = alerter.judge(judged)
    alerter.commit(states, events)
    return windows


def _metrics(traces: Sequence[Trace], full: Sequence[Trace]) -> dict[str, float]:
    if not traces:
        return {}
    durations = np.array([t.duration_ms for t in traces if t.duration_ms is not None], dtype=float)
    out: dict[str, float] = {"error_rate": sum(t.status == "error" for t in traces) / len(traces)}
    if len(durations):
        p50, p95 = np.percentile(durations, [50, 95])
        out |= {
            "latency_p50_ms": float(p50),
            "latency_p95_ms": float(p95),
            "latency_max_ms": float(durations.max()),
        }
    for key in ("input_tokens", "output_tokens", "cost"):
        values = [getattr(t, key) for t in traces if getattr(t, key) is not None]
        if values:
            out[key] = float(sum(values))
            if key == "cost":
                out["cost_per_trace"] = float(sum(values)) / len(values)
    found: dict[str, list[float]] = {}
    for trace in full:
        for s in trace.spans:
            for key, value in s.attributes.items():
                if (
                    key.startswith(SCORE_PREFIX)
                    and isinstance(value, int | float)
                    and not isinstance(value, bool)
                ) and math.isfinite(value):
                    found.setdefault(key, []).append(float(value))
    out |= {key: float(np.mean(values)) for key, values in found.items()}
    return out


__all__ = ["monitor_traces", "trace_windows"]
