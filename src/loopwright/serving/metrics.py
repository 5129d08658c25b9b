"""Prometheus metrics of one serving app, per endpoint and model version.

Labelled children are bound once per (endpoint, version) so the hot path pays a lock and an add,
never a label lookup. With several worker processes (``PROMETHEUS_MULTIPROC_DIR`` set) every
worker writes its own files and ``/metrics`` sums them.

Examples
--------
>>> m = ServingMetrics()
>>> slot = m.for_version("churn", "3")
>>> slot.answered("predict", 200, 0.002)
>>> slot.batch(16, "size")
>>> text = m.render()[0].decode()
>>> 'loopwright_requests_total{code="200",endpoint="churn",protocol="predict",version="3"} 1.0' in text
True
>>> 'loopwright_batches_total{endpoint="churn",reason="size",version="3"} 1.0' in text
True
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
ROW_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096)


class ServingMetrics:
    """The metric families of one app; :meth:`for_version` binds them to an endpoint and version."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "loopwright_requests",
            "Prediction requests answered, by endpoint, model version, protocol and status code.",
            ["endpoint", "version", "protocol", "code"],
            registry=r,
        )
        self.errors = Counter(
            "loopwright_request_errors",
            "Requests answered with an error status, by endpoint and code.",
            ["endpoint", "code"],
            registry=r,
        )
        self.latency = Histogram(
            "loopwright_request_latency_seconds",
            "Time from request received to response ready.",
            ["endpoint", "version"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.batch_rows = Histogram(
            "loopwright_batch_rows",
            "Rows per model call after micro-batching.",
            ["endpoint", "version"],
            buckets=ROW_BUCKETS,
            registry=r,
        )
        self.batches = Counter(
            "loopwright_batches",
            "Model calls, by why the batch was released: size (full) or time (nothing else waiting "
            "or latency budget spent).",
            ["endpoint", "version", "reason"],
            registry=r,
        )
        self.queue_rows = Gauge(
            "loopwright_queue_rows",
            "Rows waiting for the model.",
            ["endpoint", "version"],
            registry=r,
            multiprocess_mode="livesum",
        )
        self.log_dropped = Counter(
            "loopwright_prediction_log_dropped",
            "Prediction-log records dropped because the in-memory queue was full.",
            ["endpoint"],
            registry=r,
        )
        self.log_written = Counter(
            "loopwright_prediction_log_written",
            "Prediction-log rows written to the store.",
            ["endpoint"],
            registry=r,
        )
        self.log_rows = {
            event: Counter(
                f"loopwright_prediction_log_{event}_rows",
                help,
                ["endpoint"],
                registry=r,
            )
            for event, help in (
                ("spooled", "Prediction-log rows written to the on-disk spool (every logged row passes it)."),
                (
                    "retried",
                    "Prediction-log rows written to the store after a failed attempt, or replayed from "
                    "the spool a stopped or killed server left.",
                ),
                (
                    "lost",
                    "Prediction-log rows lost: neither spool nor store could take them, or the spool "
                    "outgrew its bound and its oldest segment was dropped.",
                ),
            )
        }
        self.log_degraded = Gauge(
            "loopwright_prediction_log_degraded",
            "1 while the prediction log cannot write to the store (rows wait in the spool) or to its spool.",
            registry=r,
            multiprocess_mode="livemax",
        )
        self.shadow = Counter(
            "loopwright_shadow_requests",
            "Copies of requests sent to shadow models, by outcome (ok, error, dropped).",
            ["endpoint", "version", "outcome"],
            registry=r,
        )
        self.swaps = Counter(
            "loopwright_model_swaps",
            "Hot swaps: a served alias moved and the new version took over.",
            ["endpoint"],
            registry=r,
        )
        self.swap_failures = Counter(
            "loopwright_model_swap_failures",
            "Hot-swap attempts that failed (the version did not load, or the registry was unreachable); "
            "the served version keeps serving.",
            ["endpoint"],
            registry=r,
        )
        self.served = Gauge(
            "loopwright_model_served",
            "1 for each model version an endpoint currently serves, by role (route or shadow).",
            ["endpoint", "version", "role"],
            registry=r,
            multiprocess_mode="max",
        )
        self.worker_restarts = Counter(
            "loopwright_worker_restarts",
            "Worker processes started in place of one that died (serve with workers > 1).",
            registry=r,
        )
        self.connections_closed = Counter(
            "loopwright_connections_closed",
            "Connections the server closed: header_timeout, body_timeout (the request did not arrive "
            "in time), idle (keep-alive timeout), no_room (past what the open-files limit allows).",
            ["reason"],
            registry=r,
        )

    def for_version(self, endpoint: str, version: str) -> VersionMetrics:
        """Children bound to one endpoint and model version."""
        return VersionMetrics(self, endpoint, version)

    def render(self) -> tuple[bytes, str]:
        """The exposition text and its content type."""
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            return generate_latest(registry), CONTENT_TYPE_LATEST
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class VersionMetrics:
    """Pre-bound metric children for one (endpoint, version)."""

    def __init__(self, metrics: ServingMetrics, endpoint: str, version: str):
        self.metrics = metrics
        self.endpoint = endpoint
        self.version = version
        self._latency = metrics.latency.labels(endpoint, version)
        self._batch_rows = metrics.batch_rows.labels(endpoint, version)
        self._batches = {
            reason: metrics.batches.labels(endpoint, version, reason) for reason in ("size", "time")
        }
        self.queue = metrics.queue_rows.labels(endpoint, version)
        self._answered: dict[tuple[str, int], Counter] = {}

    def answered(self, protocol: str, code: int, seconds: float) -> None:
        """Count one answered request and its latency."""
        child = self._answered.get((protocol, code))
        if child is None:
            child = self.metrics.requests.labels(self.endpoint, self.version, protocol, str(code))
            self._answered[(protocol, code)] = child
        child.inc()
        self._latency.observe(seconds)
        if code >= 400:
            self.metrics.errors.labels(self.endpoint, str(code)).inc()

    def batch(self, rows: int, reason: str) -> None:
        """Record one model call of ``rows`` rows released for ``reason``."""
        self._batch_rows.observe(rows)
        self._batches[reason].inc()
