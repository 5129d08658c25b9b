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
    (``status="no_reference"``). A window any served version drifted in is ``drifted=True`` with
    ``status="drifted"`` (never ``"ok"``, open or closed); otherwise ``"partial"`` means some features
    (or versions) could not be tested, ``problems`` maps features to their drift status. ``versions``
    holds each served version's own verdict (``rows``, ``status``, ``drifted``, ``share_drifted``,
    ``drifted_features``, ``message``). ``label_status`` says whether the realised ``metrics`` are
    ``"pending"`` (no labels yet), ``"partial"`` or ``"complete"``.

    Examples
    --------
    >>> import loopwright as lw
    >>> w = lw.WindowSummary(start_ms=0, end_ms=3_600_000, n_rows=0, drifted=None, share_drifted=None)
    >>> w.drifted is None, lw.WindowSummary.from_dict(w.to_dict()) == w
    (True, True)
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
        status = "drifted" if report.drifted and not empty else report.status
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
            status=status,
            problems={f.name: f.status for f in report.problems},
        )

    @property
    def drifted_versions(self) -> list[str]:
        """The served versions (``NAME/VERSION``) whose traffic drifted from their own reference."""
        return [key for key, detail in self.versions.items() if detail.get("drifted")]

    @property
    def verdict(self) -> str:
        """``"drift"`` (some served version drifted), ``"no drift"``, ``"cannot judge"`` (features
        untestable or a version without a reference, and nothing drifted) or ``"no verdict"``."""
        if self.drifted is None:
            return "no verdict"
        if self.drifted:
            return "drift"
        unjudged = any(version_verdict(d) != "no drift" for d in self.versions.values()) or any(
            status in UNTESTABLE for status in self.problems.values()
        )
        return "cannot judge" if unjudged else "no drift"

    def headline(self) -> str:
        """The window's verdict in one line, covering every version it served.

        Examples
        --------
        >>> w = WindowSummary(0, 3_600_000, 2500, True, 0.5, ["f0"], versions={
        ...     "churn/1": {"rows": 1500, "status": "ok", "drifted": False},
        ...     "churn/2": {"rows": 1000, "status": "drifted", "drifted": True, "drifted_features": ["f0"]}})
        >>> w.headline()
        'DRIFT in churn/2: churn/2 drifted (1,000 rows; f0); churn/1 no drift (1,500 rows)'
        """
        if self.status == "empty":
            return "NO VERDICT: no traffic in this window"
        parts = [_version_line(key, detail) for key, detail in self.versions.items()]
        detail = "; ".join(sorted(parts, key=lambda line: " drifted (" not in line))
        verdict = self.verdict
        if verdict == "drift":
            return f"DRIFT in {', '.join(self.drifted_versions) or 'this window'}: {detail}"
        return f"{'no drift' if verdict == 'no drift' else verdict.upper()}: {detail}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> WindowSummary:
        """Inverse of :meth:`to_dict`."""
        return cls(**dict(data))


# a window's verdict in a table's "drift" column (the report's and the CLI's)
DRIFT_CELLS = {"drift": "yes", "no drift": "no", "cannot judge": "cannot judge", "no verdict": "n/a"}
# drift statuses of features that could not be tested (see loopwright.monitoring.drift)
UNTESTABLE = frozenset(
    {"empty", "all_missing", "missing_in_current", "missing_in_reference", "type_mismatch"}
)


def version_verdict(detail: Mapping[str, Any]) -> str:
    """One served version's verdict from its ``WindowSummary.versions`` entry: ``"drift"``,
    ``"no drift"``, ``"cannot judge"`` (features untestable) or ``"no verdict"`` (no reference).

    >>> version_verdict({"status": "partial", "drifted": False, "problems": ["f3"]})
    'cannot judge'
    """
    drifted = detail.get("drifted")
    if drifted is None:
        return "no verdict"
    if drifted:
        return "drift"
    return "no drift" if detail.get("status") == "ok" else "cannot judge"


def _version_line(key: str, detail: Mapping[str, Any]) -> str:
    """``churn/2 drifted (1,000 rows; f0, f1)``: one served version's verdict for a headline."""
    rows = f"{detail.get('rows', 0):,} rows"
    if detail.get("drifted") is None:
        return f"{key} not judged ({rows}; {detail.get('status', 'no verdict')})"
    if detail["drifted"]:
        features = detail.get("drifted_features") or []
        return f"{key} drifted ({rows}" + (f"; {_few(features)})" if features else ")")
    if detail.get("status") == "ok":
        return f"{key} no drift ({rows})"
    untested = detail.get("problems") or []
    return f"{key} cannot judge ({rows}" + (f"; could not test {_few(untested)})" if untested else ")")


def _few(names: Sequence[str], shown: int = 5) -> str:
    more = len(names) - shown
    return ", ".join(names[:shown]) + (f" +{more} more" if more > 0 else "")
