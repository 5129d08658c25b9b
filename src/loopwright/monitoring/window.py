"""What one monitoring window keeps: its time span, row count, drift summary, live metrics, alerts.

A :class:`WindowSummary` is small and JSON-serialisable, so the live monitor stores one per window
and the report draws drift-over-time and metric trends from a list of them, never from raw rows.

Examples
--------
>>> import numpy as np, pandas as pd
>>> from loopwright.monitoring.drift import drift
>>> ref = pd.DataFrame({"x": np.arange(1000.0)})
>>> w = WindowSummary.from_drift(drift(ref, ref), start_ms=0, end_ms=3_600_000, metrics={"accuracy": 0.91})
>>> w.drifted, w.share_drifted, w.metrics
(False, 0.0, {'accuracy': 0.91})
>>> WindowSummary.from_dict(w.to_dict()) == w
True
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from loopwright.monitoring.drift import DriftReport


@dataclass
class WindowSummary:
    """One window of live traffic, summarised (times are UTC epoch milliseconds).

    ``drifted`` and ``share_drifted`` are ``None`` when the window has no drift verdict: no traffic
    (``status="empty"``) or no reference profile for the versions that served it
    (``status="no_reference"``); ``"partial"`` means some features (or versions) could not be
    tested, ``problems`` maps those features to their status. ``label_status`` says whether the
    realised ``metrics`` are ``"pending"`` (no labels yet), ``"partial"`` or ``"complete"``.
    """

    start_ms: int
    end_ms: int
    n_rows: int
    drifted: bool | None
    share_drifted: float | None
    drifted_features: list[str] = field(default_factory=list)
    # each feature's effect size (normalised Wasserstein or JS distance); None when untestable
    effects: dict[str, float | None] = field(default_factory=dict)
    prediction_drifted: bool | None = None
    # realised metrics once labels arrive, estimated ones (e.g. CBPE) before
    metrics: dict[str, float] = field(default_factory=dict)
    estimated: dict[str, float] = field(default_factory=dict)
    alerts: list[str] = field(default_factory=list)
    endpoint: str = ""
    status: str = "ok"
    closed: bool = True
    model_versions: list[str] = field(default_factory=list)
    labelled: int = 0
    label_status: str = ""
    problems: dict[str, str] = field(default_factory=dict)
    messages: list[str] = field(default_factory=list)
    # per served version: rows, status, drifted, share_drifted, drifted_features, message
    versions: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def from_drift(
        cls,
        report: DriftReport,
        *,
        start_ms: int,
        end_ms: int,
        metrics: Mapping[str, float] | None = None,
        estimated: Mapping[str, float] | None = None,
        alerts: Sequence[str] = (),
    ) -> WindowSummary:
        """Summarise a drift report (and optional metrics/alerts) for the window ``[start_ms, end_ms)``."""
        empty = report.status == "empty"  # no verdict, which is not "no drift"
        return cls(
            start_ms=start_ms,
            end_ms=end_ms,
            n_rows=report.current.n_rows,
            drifted=None if empty else report.drifted,
            share_drifted=None if empty else report.share_drifted,
            drifted_features=report.drifted_features,
            effects={name: f.effect_size for name, f in report.features.items()},
            prediction_drifted=report.prediction.drifted if report.prediction else None,
            metrics=dict(metrics or {}),
            estimated=dict(estimated or {}),
            alerts=list(alerts),
            status=report.status,
            problems={f.name: f.status for f in report.problems},
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> WindowSummary:
        """Inverse of :meth:`to_dict`."""
        return cls(**dict(data))
