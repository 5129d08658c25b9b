"""Realised live metrics: predictions joined with the labels that came back.

Classification: ``accuracy`` and, for binary classifiers with scores, ``roc_auc``; regression:
``mae`` and ``rmse``. Plain numpy (ROC AUC by the Mann-Whitney rank sum with tied ranks averaged),
so monitoring does not import scikit-learn; a test checks the values against scikit-learn.

Examples
--------
>>> import numpy as np
>>> classification_metrics(np.array([1, 0, 1, 1]), np.array([1, 0, 0, 1]),
...                        scores=np.array([0.9, 0.2, 0.6, 0.7]), positive=1)
{'accuracy': 0.75, 'roc_auc': 1.0}
>>> regression_metrics(np.array([1.0, 2.0]), np.array([2.0, 2.0]))
{'mae': 0.5, 'rmse': 0.7071067811865476}
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt


def roc_auc(positive: npt.ArrayLike, scores: npt.ArrayLike) -> float:
    """ROC AUC of ``scores`` for the boolean truth ``positive``; NaN unless both classes occur.

    >>> roc_auc([True, False, True], [0.8, 0.3, 0.3])
    0.75
    """
    y = np.asarray(positive, dtype=bool)
    s = np.asarray(scores, dtype=np.float64)
    n1 = int(y.sum())
    n0 = y.size - n1
    if n1 == 0 or n0 == 0:
        return float("nan")
    _, inverse, counts = np.unique(s, return_inverse=True, return_counts=True)
    # average 1-based rank of each distinct score: ties share the mean of their ranks
    upper = np.cumsum(counts)
    ranks = (upper - (counts - 1) / 2.0)[inverse]
    return float((ranks[y].sum() - n1 * (n1 + 1) / 2.0) / (n1 * n0))


def classification_metrics(
    predictions: npt.NDArray[Any],
    labels: npt.NDArray[Any],
    *,
    scores: npt.NDArray[np.float64] | None = None,
    positive: Any = None,
) -> dict[str, float]:
    """Accuracy, plus ROC AUC when ``scores`` (positive-class probabilities) and the ``positive``
    label are given and both classes occur among the labels."""
    out: dict[str, float] = {}
    if len(labels) == 0:
        return out
    out["accuracy"] = float(np.mean(_equal(predictions, labels)))
    if scores is not None and positive is not None:
        finite = np.isfinite(scores)
        auc = roc_auc(
            _equal(labels[finite], np.full(int(finite.sum()), positive, dtype=object)), scores[finite]
        )
        if not math.isnan(auc):
            out["roc_auc"] = auc
    return out


def regression_metrics(predictions: npt.NDArray[Any], labels: npt.NDArray[Any]) -> dict[str, float]:
    """Mean absolute error and root mean squared error over rows with a numeric label."""
    y = np.asarray(labels, dtype=np.float64)
    p = np.asarray(predictions, dtype=np.float64)
    keep = np.isfinite(y) & np.isfinite(p)
    if not keep.any():
        return {}
    err = p[keep] - y[keep]
    return {"mae": float(np.abs(err).mean()), "rmse": float(np.sqrt(np.mean(err**2)))}


def _equal(a: npt.NDArray[Any], b: npt.NDArray[Any]) -> npt.NDArray[np.bool_]:
    """Elementwise equality of labels that may be numbers, strings or booleans (1 == 1.0 == True)."""
    left, right = np.asarray(a), np.asarray(b)
    numeric = [_as_float(x) for x in (left, right)]
    if numeric[0] is not None and numeric[1] is not None:  # the common case, without Python objects
        return np.asarray(numeric[0] == numeric[1], dtype=bool)
    return np.asarray(left.astype(object) == right.astype(object), dtype=bool)


def _as_float(values: npt.NDArray[Any]) -> npt.NDArray[np.float64] | None:
    if values.dtype.kind in "biuf":
        return values.astype(np.float64)
    if values.dtype.kind == "O":
        try:
            out = values.astype(np.float64)  # numbers and booleans; strings raise
        except (TypeError, ValueError):
            return None
        return out if not np.isnan(out).any() else None
    return None
