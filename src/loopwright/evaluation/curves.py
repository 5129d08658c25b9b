"""The data behind the report's plots: ROC and precision-recall curves, calibration, confusion matrix, residuals.

Curves are thinned to at most ``MAX_POINTS`` points (enough to draw, small enough to store in the
run's ``evaluation/metrics.json`` and the HTML page whatever the row count). Calibration bins are
scikit-learn's ``calibration_curve(strategy="uniform")``: equal-width bins over [0, 1], empty bins
left out.

Examples
--------
>>> import numpy as np
>>> y = np.array([False, False, True, True])
>>> roc_points(y, np.array([0.1, 0.4, 0.35, 0.8]))
{'fpr': [0.0, 0.0, 0.5, 0.5, 1.0], 'tpr': [0.0, 0.5, 0.5, 1.0, 1.0]}
>>> calibration(y, np.array([0.1, 0.4, 0.35, 0.8]), bins=2)
{'prob_pred': [0.2833333333333333, 0.8], 'prob_true': [0.3333333333333333, 1.0], 'count': [3, 1]}
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from loopwright.evaluation.metrics import label_codes, ranking_counts

MAX_POINTS = 200
CALIBRATION_BINS = 10
RESIDUAL_BINS = 30


def _thin(*arrays: np.ndarray) -> list[list[float]]:
    n = len(arrays[0])
    if n > MAX_POINTS:
        keep = np.unique(np.linspace(0, n - 1, MAX_POINTS).round().astype(np.int64))
        arrays = tuple(a[keep] for a in arrays)
    return [a.astype(np.float64).tolist() for a in arrays]


def roc_points(y: np.ndarray, score: np.ndarray) -> dict[str, list[float]]:
    """False and true positive rates from (0, 0) to (1, 1); needs both classes present."""
    tps, fps, _ = ranking_counts(y, score)
    fpr, tpr = _thin(np.r_[0.0, fps / fps[-1]], np.r_[0.0, tps / tps[-1]])
    return {"fpr": fpr, "tpr": tpr}


def pr_points(y: np.ndarray, score: np.ndarray) -> dict[str, list[float]]:
    """Recall and precision at each threshold, from the highest score down; needs a positive row."""
    tps, fps, _ = ranking_counts(y, score)
    recall, precision = _thin(np.r_[0.0, tps / tps[-1]], np.r_[1.0, tps / (tps + fps)])
    return {"recall": recall, "precision": precision}


def calibration(y: np.ndarray, prob: np.ndarray, bins: int = CALIBRATION_BINS) -> dict[str, list[Any]]:
    """Mean predicted probability, observed frequency and row count per non-empty bin."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    ids = np.searchsorted(edges[1:-1], prob)
    total = np.bincount(ids, minlength=bins)
    predicted = np.bincount(ids, weights=prob, minlength=bins)
    observed = np.bincount(ids, weights=y.astype(np.float64), minlength=bins)
    keep = total > 0
    return {
        "prob_pred": (predicted[keep] / total[keep]).tolist(),
        "prob_true": (observed[keep] / total[keep]).tolist(),
        "count": total[keep].astype(int).tolist(),
    }


def classification_curves(
    y_true: np.ndarray, proba: np.ndarray | None, classes: Sequence[Any], pos_label: Any = None
) -> dict[str, Any]:
    """``roc``, ``pr`` and ``calibration`` keyed by class label (binary: the positive class only)."""
    if proba is None:
        return {}
    codes = label_codes(classes, y_true)
    binary = len(classes) <= 2
    positive = (classes[-1] if pos_label is None else pos_label) if binary else None
    targets = [positive] if binary else list(classes)
    out: dict[str, dict[str, Any]] = {"roc": {}, "pr": {}, "calibration": {}}
    for label in targets:
        k = list(classes).index(label)
        y, score = codes == k, np.asarray(proba[:, k], dtype=np.float64)
        key = str(label)
        if y.any() and not y.all():
            out["roc"][key] = roc_points(y, score)
        if y.any():
            out["pr"][key] = pr_points(y, score)
        if len(y):
            out["calibration"][key] = calibration(y, score)
    return out


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, classes: Sequence[Any]) -> dict[str, Any]:
    """Counts with rows = true label, columns = predicted label, over the classes (plus unknown labels)."""
    labels = list(classes)
    seen = {str(c) for c in labels}
    for value in (*np.unique(y_true.astype(str)), *np.unique(y_pred.astype(str))):
        if value not in seen:
            seen.add(value)
            labels.append(value)
    names = [str(c) for c in labels]
    t = label_codes(names, y_true.astype(str))
    p = label_codes(names, y_pred.astype(str))
    k = len(names)
    matrix = np.bincount(t * k + p, minlength=k * k).reshape(k, k)
    return {"labels": names, "matrix": matrix.tolist()}


def residuals(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, Any]:
    """Histogram (central 99 % of residuals ``y_true - y_pred``, the tails clipped into the end bins) and quantiles."""
    r = np.asarray(y_true, dtype=np.float64) - np.asarray(y_pred, dtype=np.float64)
    r = r[np.isfinite(r)]
    if len(r) == 0:
        return {}
    lo, hi = np.quantile(r, [0.005, 0.995])
    if hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5
    counts, edges = np.histogram(np.clip(r, lo, hi), bins=RESIDUAL_BINS, range=(lo, hi))
    qs = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)
    return {
        "edges": edges.tolist(),
        "counts": counts.tolist(),
        "quantiles": {
            f"p{round(q * 100):02d}": float(v) for q, v in zip(qs, np.quantile(r, qs), strict=True)
        },
    }
