"""Performance before labels arrive: confidence-based performance estimation (CBPE).

Labels often come days after a prediction, if at all. A classifier whose probabilities are
*calibrated* (of the rows it scores 0.8, about 80% are positive) already says how often it is
right: that is what NannyML's CBPE uses, and what this module computes, per window, from the
scores in the prediction log alone.

Expected accuracy
-----------------
A row predicted positive with score ``s`` (the positive-class probability) is correct with
probability ``s``; a row predicted negative is correct with probability ``1 - s``. By linearity of
expectation the expected accuracy of a window is the mean of those per-row probabilities (for a
multi-class argmax prediction: the mean top-class probability). Its standard error against the
realised accuracy is ``sqrt(sum p_i (1 - p_i)) / n <= 0.5 / sqrt(n)``: about 0.011 at 2,000 rows.

Expected ROC AUC
----------------
AUC is the share of (positive, negative) pairs the scores order correctly, ties counting one half.
With unknown labels, row ``i`` is positive with probability ``s_i`` and row ``j`` negative with
probability ``1 - s_j``, independently, so the expected number of correctly ordered pairs is
``sum_{i != j} s_i (1 - s_j) [s_i > s_j]`` (ties: one half) and the expected number of pairs is
``sum_{i != j} s_i (1 - s_j)``; their ratio is the estimate. (This equals the area under the
"expected ROC curve" whose TPR and FPR at each threshold are the score-weighted shares, as in
NannyML.) It is computed in ``O(n log n)`` without a loop over rows: sort the distinct scores, sum
``s`` and ``1 - s`` per distinct score, take the running sum of ``1 - s`` below each score, and
remove the ``i = j`` terms (``s_i (1 - s_i)``, counted as a half-pair inside their tie group).

The estimates hold when the probabilities stay calibrated on the live data. Covariate shift
alone keeps a well-specified model calibrated (its ``P(y | x)`` is unchanged), so the estimates
track the accuracy change drift causes; concept drift (``P(y | x)`` itself changes) is what only
realised metrics, once labels arrive, can show -- which is why the monitor stores both side by side.

Examples
--------
>>> import numpy as np
>>> s = np.array([0.9, 0.8, 0.3, 0.1])
>>> round(expected_accuracy(s, s > 0.5), 4)
0.825
>>> round(expected_roc_auc(s), 4)
0.9215
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


def expected_accuracy(scores: npt.ArrayLike, predicted_positive: npt.ArrayLike | None = None) -> float:
    """Expected accuracy of a window from calibrated probabilities.

    Parameters
    ----------
    scores : array of float
        Binary: the positive-class probability of each row. Multi-class: the probability of the
        predicted class (with ``predicted_positive=None``).
    predicted_positive : array of bool, optional
        Binary: whether each row was predicted positive. ``None``: ``scores`` already are the
        probabilities of the predicted classes.

    Returns
    -------
    float
        NaN for an empty window.

    Examples
    --------
    >>> round(expected_accuracy([0.9, 0.2], [True, False]), 6)
    0.85
    >>> round(expected_accuracy([0.6, 0.7]), 6)  # multi-class top-class probabilities
    0.65
    """
    s = np.asarray(scores, dtype=np.float64)
    if s.size == 0:
        return float("nan")
    if predicted_positive is None:
        return float(s.mean())
    positive = np.asarray(predicted_positive, dtype=bool)
    return float(np.where(positive, s, 1.0 - s).mean())


def expected_roc_auc(scores: npt.ArrayLike) -> float:
    """Expected ROC AUC of a window from calibrated positive-class probabilities (see the module doc).

    Returns NaN with fewer than two rows or when every row is (almost) surely one class.

    Examples
    --------
    >>> expected_roc_auc([0.5, 0.5, 0.5])  # uninformative scores
    0.5
    >>> expected_roc_auc([0.99, 0.98, 0.02, 0.01]) > 0.97
    True
    """
    s = np.asarray(scores, dtype=np.float64)
    if s.size < 2:
        return float("nan")
    values, inverse = np.unique(s, return_inverse=True)
    pos = np.bincount(inverse, weights=s, minlength=len(values))  # expected positives per score
    neg = np.bincount(inverse, weights=1.0 - s, minlength=len(values))  # expected negatives
    below = np.cumsum(neg) - neg  # expected negatives scored strictly lower
    self_pairs = float(np.sum(s * (1.0 - s)))
    ordered = float(np.sum(pos * (below + 0.5 * neg))) - 0.5 * self_pairs
    pairs = float(pos.sum() * neg.sum()) - self_pairs
    if pairs <= 1e-12:
        return float("nan")
    return ordered / pairs
