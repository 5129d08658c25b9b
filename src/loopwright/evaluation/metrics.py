"""Task metrics in numpy, defined as scikit-learn defines them (the tests compute both on fixed data).

Why not call ``sklearn.metrics``: importing it costs about a second, and ``import loopwright`` must
stay quick for the CLI. The definitions follow scikit-learn exactly:

- binary: ``precision``, ``recall``, ``f1`` of the positive class (``pos_label``, default the last
  class: the second column of ``predict_proba``); ``roc_auc`` (area under the ROC curve, ties count
  half); ``pr_auc`` = average precision (step-wise, not trapezoidal); ``log_loss`` with
  probabilities clipped to ``[eps, 1 - eps]``; ``brier_score`` = mean squared error of the positive
  probability.
- multiclass: ``precision``/``recall``/``f1`` are **macro** averages over the classes present in
  the labels or predictions (a class never predicted counts 0 precision, as scikit-learn's default);
  ``roc_auc`` and ``pr_auc`` are **macro one-vs-rest** averages over the model's classes;
  ``brier_score`` is the multiclass Brier score (sum over classes, range 0-2, scikit-learn ≥ 1.7).
- regression: ``mae``, ``rmse``, ``mape`` (fraction, not percent), ``r2``; ``residual_mean`` and
  ``residual_std`` of ``y_true - y_pred``.

A metric that is undefined on the data (ROC AUC with one class present, recall with no positive
labels, MAPE with a zero target, R² of a constant target) is ``None`` and its reason is in
``missing`` — never a NaN.

Examples
--------
>>> import numpy as np
>>> m = classification_metrics(np.array([0, 0, 1, 1]), np.array([0, 1, 1, 1]),
...                            np.array([[0.9, 0.1], [0.4, 0.6], [0.35, 0.65], [0.2, 0.8]]), [0, 1])
>>> m.values["accuracy"], m.values["roc_auc"], round(m.values["brier_score"], 4)
(0.75, 1.0, 0.1331)
>>> one_class = classification_metrics(np.array([1, 1]), np.array([1, 0]), None, [0, 1])
>>> one_class.values["recall"], one_class.values["roc_auc"], one_class.missing["roc_auc"]
(0.5, None, 'the model has no predict_proba')
>>> regression_metrics(np.array([1.0, 2.0, 4.0]), np.array([1.0, 3.0, 3.0])).values["mae"]
0.6666666666666666
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

CLASSIFICATION_METRICS = (
    "accuracy",
    "precision",
    "recall",
    "f1",
    "roc_auc",
    "pr_auc",
    "log_loss",
    "brier_score",
)
REGRESSION_METRICS = ("mae", "rmse", "mape", "r2", "residual_mean", "residual_std")
LATENCY_METRICS = ("latency_p50_ms", "latency_p99_ms", "throughput_rows_per_s")
PROBABILITY_METRICS = ("roc_auc", "pr_auc", "log_loss", "brier_score")


@dataclass
class MetricSet:
    """Metric values (``None`` when undefined) and, for each undefined one, the reason."""

    values: dict[str, float | None] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)

    def set(self, name: str, value: float | None, reason: str = "") -> None:
        if value is None or not np.isfinite(value):
            self.values[name] = None
            self.missing[name] = reason or "not finite on this data"
        else:
            self.values[name] = float(value)


def label_codes(labels: Sequence[Any], values: np.ndarray) -> np.ndarray:
    """Index of each value in ``labels`` (``-1`` for a value that is not one of them)."""
    return np.asarray(pd.Index(list(labels)).get_indexer(values), dtype=np.int64)


def classification_metrics(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    proba: np.ndarray | None,
    classes: Sequence[Any],
    pos_label: Any = None,
) -> MetricSet:
    """Accuracy, precision, recall, F1, ROC AUC, PR AUC, log loss and Brier score.

    Parameters
    ----------
    y_true, y_pred : array
        True and predicted labels.
    proba : array of shape (n, len(classes)), optional
        Class probabilities in ``classes`` order; without them the probability metrics are missing.
    classes : list
        The model's classes. Two (or one) make a binary problem, more a multiclass one.
    pos_label : optional
        The positive class of a binary problem (default: the last class).

    Returns
    -------
    MetricSet
    """
    out = MetricSet()
    n = len(y_true)
    if n == 0:
        for name in CLASSIFICATION_METRICS:
            out.set(name, None, "no rows")
        return out
    out.set("accuracy", float(np.mean(y_true == y_pred)))
    binary = len(classes) <= 2
    if binary:
        positive = classes[-1] if pos_label is None else pos_label
        _binary_label_metrics(out, y_true == positive, y_pred == positive, positive)
    else:
        _macro_label_metrics(out, y_true, y_pred)
    if proba is None:
        for name in PROBABILITY_METRICS:
            out.set(name, None, "the model has no predict_proba")
    else:
        _probability_metrics(out, y_true, proba, classes, pos_label)
    out.values = {name: out.values[name] for name in CLASSIFICATION_METRICS}
    return out


def _probability_metrics(
    out: MetricSet, y_true: np.ndarray, proba: np.ndarray, classes: Sequence[Any], pos_label: Any
) -> None:
    n = len(y_true)
    binary = len(classes) <= 2
    codes = label_codes(classes, y_true)
    if (codes < 0).any():
        unknown = sorted({str(v) for v in y_true[codes < 0]})[:5]
        for name in PROBABILITY_METRICS:
            out.set(name, None, f"labels the model does not know: {', '.join(unknown)}")
        return
    eps = np.finfo(np.float64).eps
    p = np.asarray(proba, dtype=np.float64)
    out.set("log_loss", float(-np.mean(np.log(np.clip(p[np.arange(n), codes], eps, 1 - eps)))))
    if binary:
        positive = classes[-1] if pos_label is None else pos_label
        column = list(classes).index(positive)
        y = (y_true == positive).astype(np.float64)
        out.set("brier_score", float(np.mean((p[:, column] - y) ** 2)))
        _set_ranking(out, y.astype(bool), p[:, column], f"positive class {positive!r}")
    else:
        onehot = np.zeros_like(p)
        onehot[np.arange(n), codes] = 1.0
        out.set("brier_score", float(np.mean(np.sum((onehot - p) ** 2, axis=1))))
        aucs, aps, absent = [], [], []
        for k, label in enumerate(classes):
            mask = codes == k
            if not mask.any() or mask.all():
                absent.append(str(label))
                continue
            aucs.append(roc_auc(mask, p[:, k]))
            aps.append(average_precision(mask, p[:, k]))
        if absent:
            reason = (
                f"one-vs-rest is undefined for class {', '.join(absent)}: it has no rows (or every row) here"
            )
            out.set("roc_auc", None, reason)
            out.set("pr_auc", None, reason)
        else:
            out.set("roc_auc", float(np.mean(aucs)))
            out.set("pr_auc", float(np.mean(aps)))


def _binary_label_metrics(out: MetricSet, y: np.ndarray, yhat: np.ndarray, positive: Any) -> None:
    tp = int(np.sum(y & yhat))
    fp = int(np.sum(~y & yhat))
    fn = int(np.sum(y & ~yhat))
    out.set(
        "precision",
        tp / (tp + fp) if tp + fp else None,
        f"no row was predicted as the positive class {positive!r}",
    )
    out.set("recall", tp / (tp + fn) if tp + fn else None, f"no row has the positive class {positive!r}")
    out.set(
        "f1",
        2 * tp / (2 * tp + fp + fn) if tp + fp + fn else None,
        f"the positive class {positive!r} is neither present nor predicted",
    )


def _macro_label_metrics(out: MetricSet, y_true: np.ndarray, y_pred: np.ndarray) -> None:
    labels = pd.unique(np.concatenate([y_true, y_pred])).tolist()
    t, p = label_codes(labels, y_true), label_codes(labels, y_pred)
    k = len(labels)
    tp = np.bincount(t[t == p], minlength=k).astype(np.float64)
    predicted = np.bincount(p, minlength=k).astype(np.float64)
    actual = np.bincount(t, minlength=k).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(predicted > 0, tp / predicted, 0.0)
        recall = np.where(actual > 0, tp / actual, 0.0)
        denominator = predicted + actual
        f1 = np.where(denominator > 0, 2 * tp / denominator, 0.0)
    out.set("precision", float(precision.mean()))
    out.set("recall", float(recall.mean()))
    out.set("f1", float(f1.mean()))


def _set_ranking(out: MetricSet, y: np.ndarray, score: np.ndarray, what: str) -> None:
    positives = int(y.sum())
    if positives == 0:
        out.set("roc_auc", None, f"only one class here: no row has the {what}")
        out.set("pr_auc", None, f"no row has the {what}")
        return
    out.set("pr_auc", average_precision(y, score))
    if positives == len(y):
        out.set("roc_auc", None, f"only one class here: every row has the {what}")
    else:
        out.set("roc_auc", roc_auc(y, score))


def roc_auc(y: np.ndarray, score: np.ndarray) -> float:
    """Area under the ROC curve for boolean labels ``y`` (both classes present); ties count half.

    Computed as the Mann-Whitney statistic on mid-ranks, which equals the trapezoidal area under
    the ROC curve scikit-learn integrates.
    """
    _, inverse, counts = np.unique(score, return_inverse=True, return_counts=True)
    mid_ranks = np.cumsum(counts) - (counts - 1) / 2.0
    ranks = mid_ranks[inverse]
    n_pos = float(y.sum())
    n_neg = len(y) - n_pos
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def ranking_counts(y: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """True and false positives at each distinct threshold, highest score first (as ``roc_curve``)."""
    order = np.argsort(score, kind="mergesort")[::-1]
    s, labels = score[order], y[order].astype(np.float64)
    last_of_each = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]
    tps = np.cumsum(labels)[last_of_each]
    fps = 1 + last_of_each - tps
    return tps, fps, s[last_of_each]


def average_precision(y: np.ndarray, score: np.ndarray) -> float:
    """Average precision: ``Σ (R_k - R_{k-1}) P_k`` over thresholds (scikit-learn's step-wise PR AUC)."""
    tps, fps, _ = ranking_counts(y, score)
    precision = tps / (tps + fps)
    recall = tps / tps[-1]
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> MetricSet:
    """MAE, RMSE, MAPE, R², and the mean and standard deviation of the residuals ``y_true - y_pred``."""
    out = MetricSet()
    y = np.asarray(y_true, dtype=np.float64)
    yhat = np.asarray(y_pred, dtype=np.float64)
    if len(y) == 0:
        for name in REGRESSION_METRICS:
            out.set(name, None, "no rows")
        return out
    bad = int((~np.isfinite(yhat)).sum())
    if bad:
        for name in REGRESSION_METRICS:
            out.set(name, None, f"the model returned {bad} non-finite prediction(s)")
        return out
    residual = y - yhat
    out.set("mae", float(np.mean(np.abs(residual))))
    out.set("rmse", float(np.sqrt(np.mean(residual**2))))
    zeros = int((y == 0).sum())
    out.set(
        "mape",
        float(np.mean(np.abs(residual) / np.abs(y))) if not zeros else None,
        f"undefined: {zeros} row(s) have a target of 0",
    )
    total = float(np.sum((y - y.mean()) ** 2))
    if len(y) < 2 or total == 0:
        out.set("r2", None, "undefined: the target is constant here")
    else:
        out.set("r2", 1 - float(np.sum(residual**2)) / total)
    out.set("residual_mean", float(residual.mean()))
    out.set("residual_std", float(residual.std()))
    return out
