"""CBPE estimates against realised metrics on calibrated synthetic data; realised metrics against
scikit-learn.

Stated tolerance (checked below on 16 windows of 2,000-6,000 rows with labels drawn from the
scores): |estimated - realised| <= 0.03 for accuracy and <= 0.04 for ROC AUC at n >= 2,000. Both
are about three standard errors of the realised metric itself (accuracy: <= 0.5 / sqrt(n) = 0.011).
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, mean_absolute_error, mean_squared_error, roc_auc_score

from loopwright.monitoring.estimation import expected_accuracy, expected_roc_auc
from loopwright.monitoring.performance import classification_metrics, regression_metrics, roc_auc

ACCURACY_TOLERANCE = 0.03
AUC_TOLERANCE = 0.04


def test_cbpe_lands_within_tolerance_of_realised_metrics() -> None:
    rng = np.random.default_rng(7)
    shapes = [(2, 2), (0.5, 0.5), (5, 2), (2, 5), (1, 1), (8, 8), (0.7, 2), (3, 1)]
    acc_errors, auc_errors = [], []
    for (a, b), n in itertools.product(shapes, (2000, 6000)):
        scores = np.round(rng.beta(a, b, n), 3)  # rounding makes ties, as real models do
        labels = rng.random(n) < scores  # calibrated: P(y = 1 | s) = s
        predicted = scores > 0.5
        realised_acc = accuracy_score(labels, predicted)
        realised_auc = roc_auc_score(labels, scores)
        acc_errors.append(expected_accuracy(scores, predicted) - realised_acc)
        auc_errors.append(expected_roc_auc(scores) - realised_auc)
    acc, auc = np.array(acc_errors), np.array(auc_errors)
    assert np.abs(acc).max() <= ACCURACY_TOLERANCE, acc
    assert np.abs(auc).max() <= AUC_TOLERANCE, auc
    # unbiased: the errors average out
    assert abs(acc.mean()) < 0.005 and abs(auc.mean()) < 0.005


def test_cbpe_follows_a_performance_drop_without_labels() -> None:
    rng = np.random.default_rng(1)
    confident = rng.beta(0.4, 0.4, 4000)  # scores near 0 and 1: high accuracy
    unsure = rng.beta(6, 6, 4000)  # scores near 0.5: a drop
    for scores in (confident, unsure):
        labels = rng.random(scores.size) < scores
        est = expected_accuracy(scores, scores > 0.5)
        assert abs(est - accuracy_score(labels, scores > 0.5)) <= ACCURACY_TOLERANCE
    assert expected_accuracy(confident, confident > 0.5) - expected_accuracy(unsure, unsure > 0.5) > 0.2


def test_expected_auc_equals_its_pairwise_definition() -> None:
    rng = np.random.default_rng(3)
    s = np.round(rng.random(300), 1)  # many ties
    pos, neg = s[:, None], 1 - s[None, :]
    weight = pos * neg
    np.fill_diagonal(weight, 0.0)
    order = (s[:, None] > s[None, :]) + 0.5 * (s[:, None] == s[None, :])
    brute = float((weight * order).sum() / weight.sum())
    assert expected_roc_auc(s) == pytest.approx(brute, rel=1e-12)


def test_multiclass_accuracy_is_the_mean_top_probability() -> None:
    rng = np.random.default_rng(4)
    proba = rng.dirichlet([1, 1, 1], 5000)
    truth = np.array([rng.choice(3, p=p) for p in proba])
    realised = float(np.mean(proba.argmax(axis=1) == truth))
    assert abs(expected_accuracy(proba.max(axis=1)) - realised) <= ACCURACY_TOLERANCE


def test_edge_cases_are_nan_not_errors() -> None:
    assert np.isnan(expected_accuracy([]))
    assert np.isnan(expected_roc_auc([0.3]))
    assert np.isnan(expected_roc_auc([1.0, 1.0]))  # every row surely positive: no pairs
    assert np.isnan(roc_auc([True, True], [0.2, 0.9]))


def test_realised_metrics_match_scikit_learn() -> None:
    rng = np.random.default_rng(5)
    scores = np.round(rng.random(1000), 2)
    labels = np.where(rng.random(1000) < scores, "yes", "no").astype(object)
    predictions = np.where(scores > 0.5, "yes", "no").astype(object)
    got = classification_metrics(predictions, labels, scores=scores, positive="yes")
    assert got["accuracy"] == pytest.approx(accuracy_score(labels, predictions))
    assert got["roc_auc"] == pytest.approx(roc_auc_score(labels == "yes", scores))
    # labels that came back as JSON numbers still match integer predictions
    ints = classification_metrics(np.array([1, 0, 1]), np.array([1.0, 0, 0], dtype=object))
    assert ints == {"accuracy": pytest.approx(2 / 3)}
    one_class = classification_metrics(
        np.array([1, 1]), np.array([1, 1], dtype=object), scores=np.array([0.6, 0.7]), positive=1
    )
    assert "roc_auc" not in one_class  # undefined with one class: absent, not NaN

    y = rng.normal(size=500)
    p = y + rng.normal(0, 0.3, 500)
    reg = regression_metrics(p, y.astype(object))
    assert reg["mae"] == pytest.approx(mean_absolute_error(y, p))
    assert reg["rmse"] == pytest.approx(np.sqrt(mean_squared_error(y, p)))
