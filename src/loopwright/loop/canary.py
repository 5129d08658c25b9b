"""Judging a canary: the candidate's own live traffic since the canary started, and its labels.

The evidence is the endpoint's prediction log (the rows monitoring windows are cut from), split by
served version: the canary's requests and rows, joined by ``(request_id, row)`` with the feedback
labels logged since, give its live metrics; the champion's rows over the same period give the
reference for ``*_delta`` rules. Metrics: ``accuracy``, ``error_rate`` (1 - accuracy: the share
of labelled predictions that were wrong), ``roc_auc`` (binary classifiers with scores), ``mae``
and ``rmse`` (regression).

The verdict is ``wait`` (fewer than ``min_requests`` requests, or fewer than ``min_labels``
labelled rows while a rule needs labels), ``pass``, or ``fail`` (a rule does not hold, a metric a
rule needs is undefined, or the canary outlived ``timeout`` still waiting).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from loopwright.loop.config import CanaryConfig, CanaryRule
from loopwright.monitoring.performance import classification_metrics, regression_metrics
from loopwright.serving.prediction_log import list_predictions
from loopwright.tracking.client import Client

Verdict = Literal["wait", "pass", "fail"]


@dataclass(frozen=True)
class CanaryCheck:
    """One canary rule applied to the live metrics."""

    rule: str
    value: float | None
    champion: float | None
    passed: bool
    reason: str = ""


@dataclass
class CanaryReport:
    """What the canary has shown so far, and the verdict."""

    verdict: Verdict
    reason: str
    version: int
    requests: int = 0
    n_rows: int = 0
    labelled: int = 0
    metrics: dict[str, float] = field(default_factory=dict)
    champion_version: int | None = None
    champion_metrics: dict[str, float] = field(default_factory=dict)
    checks: list[CanaryCheck] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "reason": self.reason,
            "version": self.version,
            "requests": self.requests,
            "n_rows": self.n_rows,
            "labelled": self.labelled,
            "metrics": self.metrics,
            "champion_version": self.champion_version,
            "champion_metrics": self.champion_metrics,
            "checks": [c.__dict__ for c in self.checks],
        }


def judge_canary(
    config: CanaryConfig,
    *,
    endpoint: str,
    model: str,
    version: int,
    champion: int | None,
    started_ms: int,
    now_ms: int,
    client: Client,
) -> CanaryReport:
    """The verdict on ``model`` version ``version`` serving under the canary alias since ``started_ms``."""
    frame = list_predictions(endpoint, since=started_ms, until=now_ms + 1, client=client)
    frame = frame[frame["model_name"] == model]
    mine = frame[frame["model_version"] == version]
    requests = int(mine["request_id"].nunique())
    report = CanaryReport("wait", "", version, requests, len(mine), champion_version=champion)
    timed_out = config.timeout_ms is not None and now_ms - started_ms >= config.timeout_ms
    if requests < config.min_requests:
        report.reason = f"the canary served {requests} of {config.min_requests} requests"
        return _timeout(report) if timed_out else report
    if not config.rules:
        report.verdict, report.reason = "pass", f"the canary served {requests} requests (no rules to check)"
        return report

    labels = client.store.get_feedback_labels(endpoint, since_ms=started_ms)
    keyed = pd.DataFrame({"request_id": labels.request_ids, "row": labels.rows, "label": labels.labels})
    mine = _labelled(mine, keyed)
    report.labelled = len(mine)
    theirs = _labelled(frame[frame["model_version"] == champion], keyed) if champion is not None else None
    waiting = []
    if len(mine) < config.min_labels:
        waiting.append(f"the canary has {len(mine)} of {config.min_labels} labelled rows")
    if (
        any(r.versus_champion for r in config.rules)
        and theirs is not None
        and len(theirs) < config.min_labels
    ):
        waiting.append(
            f"champion version {champion} has {len(theirs)} of {config.min_labels} labelled rows "
            "over the same period"
        )
    if waiting:
        report.reason = "waiting for labels: " + "; ".join(waiting)
        return _timeout(report) if timed_out else report

    report.metrics = live_metrics(mine)
    if theirs is not None and len(theirs):
        report.champion_metrics = live_metrics(theirs)
    report.checks = [_check(rule, report, champion) for rule in config.rules]
    failed = [c for c in report.checks if not c.passed]
    if failed:
        report.verdict = "fail"
        report.reason = "canary rules failed: " + "; ".join(c.reason for c in failed)
    else:
        report.verdict = "pass"
        report.reason = f"the canary held {len(report.checks)} rule(s) over {requests} requests, {len(mine)} labelled rows"
    return report


def live_metrics(rows: pd.DataFrame) -> dict[str, float]:
    """Metrics of labelled log rows (columns ``prediction``, ``score``, ``label``)."""
    prediction = rows["prediction"].to_numpy()
    label = rows["label"].to_numpy()
    scores = rows["score"].to_numpy(dtype=np.float64)
    if _regression(rows):
        return regression_metrics(prediction, label)
    positive = _positive(rows)
    out = classification_metrics(
        prediction, label, scores=scores if positive is not None else None, positive=positive
    )
    if "accuracy" in out:
        out["error_rate"] = 1.0 - out["accuracy"]
    return out


def _labelled(rows: pd.DataFrame, labels: pd.DataFrame) -> pd.DataFrame:
    joined = rows.merge(labels, on=["request_id", "row"], how="inner")
    return joined[joined["label"].notna()]


def _regression(rows: pd.DataFrame) -> bool:
    """Regression when nothing is scored and the predictions are fractional numbers."""
    if rows["score"].notna().any():
        return False
    values = pd.to_numeric(rows["prediction"], errors="coerce").to_numpy(dtype=np.float64)
    values = values[np.isfinite(values)]
    return bool(values.size) and not np.all(values == np.round(values))


def _positive(rows: pd.DataFrame) -> Any:
    """The class the log's ``score`` is the probability of (binary): what rows scored above 0.5
    were predicted, as scikit-learn predicts the second class exactly then."""
    if rows["prediction"].nunique() > 2 or not rows["score"].notna().any():
        return None
    high = rows.loc[rows["score"] > 0.5, "prediction"]
    return high.mode().iloc[0] if len(high) else None


def _check(rule: CanaryRule, report: CanaryReport, champion: int | None) -> CanaryCheck:
    value = report.metrics.get(rule.metric)
    if value is None:
        return CanaryCheck(
            str(rule), None, None, False, f"{rule.metric} is undefined for the canary's traffic"
        )
    if not rule.versus_champion:
        ok = rule.holds(value)
        return CanaryCheck(
            str(rule), value, None, ok, "" if ok else f"{rule.metric} {value:.4g} is not {_bound(rule)}"
        )
    reference = report.champion_metrics.get(rule.metric)
    if reference is None:
        if champion is None:
            return CanaryCheck(str(rule), value, None, True, "no champion to compare with")
        return CanaryCheck(
            str(rule), value, None, False, f"{rule.metric} of champion version {champion} is undefined"
        )
    delta = value - reference
    ok = rule.holds(delta)
    reason = f"{rule.metric} delta {delta:+.4g} vs champion v{champion}"
    return CanaryCheck(str(rule), value, reference, ok, reason if ok else f"{reason} is not {_bound(rule)}")


def _bound(rule: CanaryRule) -> str:
    return str(rule).removeprefix(rule.metric).removeprefix(" delta").strip()


def _timeout(report: CanaryReport) -> CanaryReport:
    report.verdict = "fail"
    report.reason = f"canary timed out: {report.reason}"
    return report
