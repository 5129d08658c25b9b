"""``EvaluationResult``: what :func:`loopwright.evaluate` returns.

Shapes (also stored as the run artifact ``evaluation/metrics.json`` by :meth:`to_dict`):

- ``metrics``: ``{"accuracy": 0.91, "roc_auc": 0.95, …, "latency_p99_ms": 1.8}`` — overall values;
  ``None`` where a metric is undefined on the data (the reason is in ``missing["overall"]``).
- ``slices``: one entry per value of each slice column, keyed ``"COLUMN=VALUE"`` (a missing
  value is ``"COLUMN=(missing)"``): ``{"region=north": {"n": 412, "accuracy": 0.9, …}}`` — the
  row count ``n`` plus the same task metrics as ``metrics`` (latency is measured on the whole
  data only). Tiny slices are kept, with their ``n``.
- ``missing``: reasons for every ``None``, by scope: ``{"overall": {...}, "region=east": {"roc_auc":
  "only one class here: …"}}``.
- ``curves``: plot data — ``roc``/``pr``/``calibration`` by class label and ``confusion_matrix``
  (classification), ``residuals`` (regression).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from loopwright.evaluation.latency import Latency

OVERALL = "overall"


@dataclass
class EvaluationResult:
    """One model evaluated on one dataset.

    Attributes
    ----------
    model_uri : str
        The URI evaluated (``models:/NAME/VERSION`` for a registered version, also when given an alias).
    model_name, model_version : str or None, int or None
        The registered model and version, when there is one.
    task : str
        ``classification`` or ``regression``.
    target : str
        The label column.
    n_rows : int
        Rows evaluated (rows without a target are left out, see ``notes``).
    metrics, slices, missing, curves : dict
        See the module documentation for their shapes.
    latency : Latency
        Batch throughput and single-row percentiles (also in ``metrics``).
    classes : list or None
        The classes, in ``predict_proba`` order (classification).
    run_id : str
        The tracking run holding the metrics, ``evaluation/metrics.json`` and ``evaluation/report.html``.
    report_path : Path or None
        A local copy of the HTML report.
    notes : list of str
        What the reader should know (averaging used, rows dropped, …).

    Examples
    --------
    >>> import os, tempfile, pandas as pd, loopwright as lw
    >>> from sklearn.linear_model import LogisticRegression
    >>> os.environ["LOOPWRIGHT_HOME"] = tempfile.mkdtemp()
    >>> df = pd.DataFrame({"x": [0.1, 0.4, 0.35, 0.8, 0.2, 0.9], "churned": [0, 0, 1, 1, 0, 1]})
    >>> with lw.start_run() as run:
    ...     _ = lw.log_model(LogisticRegression().fit(df[["x"]], df["churned"]), "model", input_example=df[["x"]])
    >>> mv = lw.register_model(f"runs:/{run.id}/model", "churn")
    >>> result = lw.evaluate(mv.uri, data=df, target="churned", latency_sample=5)
    >>> result.classes, float(result.to_frame().loc["overall", "accuracy"])
    ([0, 1], 0.8333333333333334)
    >>> result.to_dict()["metrics"]["accuracy"] == result.metrics["accuracy"]  # = evaluation/metrics.json
    True
    >>> del os.environ["LOOPWRIGHT_HOME"]; lw.reset_clients()
    """

    model_uri: str
    task: str
    target: str
    n_rows: int
    metrics: dict[str, float | None]
    slices: dict[str, dict[str, float | int | None]]
    missing: dict[str, dict[str, str]]
    curves: dict[str, Any]
    latency: Latency | None = None
    model_name: str | None = None
    model_version: int | None = None
    classes: list[Any] | None = None
    run_id: str = ""
    report_path: Path | None = None
    notes: list[str] = field(default_factory=list)

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={v:.4g}" for k, v in list(self.metrics.items())[:4] if v is not None)
        return f"EvaluationResult({self.model_uri!r}, {self.task}, n={self.n_rows}, {shown})"

    def set_latency(self, latency: Latency) -> None:
        """Attach the latency measurement (its values join ``metrics``)."""
        self.latency = latency
        self.metrics.update(latency.metrics())

    def value(self, metric: str, scope: str = OVERALL) -> float | None:
        """One metric overall (``scope="overall"``) or in a slice (``scope="region=north"``)."""
        if scope == OVERALL:
            return self.metrics.get(metric)
        found = self.slices.get(scope, {}).get(metric)
        return None if found is None else float(found)

    def reason(self, metric: str, scope: str = OVERALL) -> str:
        """Why ``metric`` is missing in ``scope`` ('' when it is not)."""
        return self.missing.get(scope, {}).get(metric, "")

    def to_frame(self) -> pd.DataFrame:
        """One row per scope (``overall`` then each slice), columns ``n`` and the task metrics."""
        rows = {OVERALL: {"n": self.n_rows, **self.metrics}}
        rows.update(self.slices)
        return pd.DataFrame.from_dict(rows, orient="index")

    def to_dict(self) -> dict[str, Any]:
        """Everything as JSON-able values (what ``evaluation/metrics.json`` holds)."""
        return {
            "format": "loopwright.evaluation",
            "version": 1,
            "model_uri": self.model_uri,
            "model_name": self.model_name,
            "model_version": self.model_version,
            "task": self.task,
            "target": self.target,
            "n_rows": self.n_rows,
            "classes": None if self.classes is None else [_jsonable(c) for c in self.classes],
            "metrics": self.metrics,
            "slices": self.slices,
            "missing": self.missing,
            "latency": None if self.latency is None else self.latency.to_dict(),
            "curves": self.curves,
            "notes": self.notes,
            "run_id": self.run_id,
        }


def _jsonable(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value
