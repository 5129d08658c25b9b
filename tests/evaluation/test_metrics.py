"""Metric values match scikit-learn on fixed data: binary, multiclass, regression, slices, undefined cases."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from eval_models import FEATURES, churn_frame, register
from sklearn import metrics as skm
from sklearn.calibration import calibration_curve
from sklearn.datasets import load_iris
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.preprocessing import label_binarize
from sklearn.tree import DecisionTreeClassifier

import loopwright as lw
from loopwright.evaluation.curves import calibration, pr_points, roc_points
from loopwright.evaluation.metrics import (
    average_precision,
    classification_metrics,
    regression_metrics,
    roc_auc,
)

APPROX = {"rel": 1e-12, "abs": 1e-12}


def _binary_reference(y: np.ndarray, pred: np.ndarray, proba: np.ndarray) -> dict[str, float]:
    return {
        "accuracy": skm.accuracy_score(y, pred),
        "precision": skm.precision_score(y, pred),
        "recall": skm.recall_score(y, pred),
        "f1": skm.f1_score(y, pred),
        "roc_auc": skm.roc_auc_score(y, proba[:, 1]),
        "pr_auc": skm.average_precision_score(y, proba[:, 1]),
        "log_loss": skm.log_loss(y, proba, labels=[0, 1]),
        "brier_score": skm.brier_score_loss(y, proba[:, 1]),
    }


def test_binary_metrics_and_slices_match_sklearn(sqlite_env: Path) -> None:
    frame = churn_frame()
    train, holdout = frame.iloc[:900], frame.iloc[900:].copy()
    holdout.loc[holdout.index[:12], ["region", "churned"]] = ["islands", 0]  # a single-class slice
    native = LogisticRegression(max_iter=500).fit(train[FEATURES], train["churned"])
    version = register(native, "churn", train[FEATURES])

    result = lw.evaluate(
        f"models:/churn/{version.version}",
        data=holdout,
        target="churned",
        task="classification",
        slices=["region"],
        latency_sample=20,
    )

    X, y = holdout[FEATURES], holdout["churned"].to_numpy()
    pred, proba = native.predict(X), native.predict_proba(X)
    expected = _binary_reference(y, pred, proba)
    for name, value in expected.items():
        assert result.metrics[name] == pytest.approx(value, **APPROX), name
    assert result.slices.keys() == {"region=east", "region=islands", "region=north", "region=south"}
    for key, values in result.slices.items():
        mask = (holdout["region"] == key.split("=")[1]).to_numpy()
        assert values["n"] == mask.sum()
        assert values["accuracy"] == pytest.approx(skm.accuracy_score(y[mask], pred[mask]), **APPROX)
        assert values["log_loss"] == pytest.approx(
            skm.log_loss(y[mask], proba[mask], labels=[0, 1]), **APPROX
        )
        assert values["brier_score"] == pytest.approx(
            skm.brier_score_loss(y[mask], proba[mask, 1], pos_label=1), **APPROX
        )
        if key == "region=islands":
            continue
        assert values["roc_auc"] == pytest.approx(skm.roc_auc_score(y[mask], proba[mask, 1]), **APPROX)
        assert values["pr_auc"] == pytest.approx(
            skm.average_precision_score(y[mask], proba[mask, 1]), **APPROX
        )
        assert values["f1"] == pytest.approx(skm.f1_score(y[mask], pred[mask]), **APPROX)

    islands = result.slices["region=islands"]
    assert islands["n"] == 12
    assert islands["roc_auc"] is None and islands["pr_auc"] is None and islands["recall"] is None
    reasons = result.missing["region=islands"]
    assert "only one class" in reasons["roc_auc"] and "no row has the positive class 1" in reasons["recall"]
    assert not any(isinstance(v, float) and np.isnan(v) for s in result.slices.values() for v in s.values())
    assert "overall" not in result.missing  # everything is defined on the whole hold-out


def test_binary_string_labels_and_explicit_positive_class(sqlite_env: Path) -> None:
    frame = churn_frame(600, seed=3)
    frame["churned"] = np.where(frame["churned"] == 1, "yes", "no")
    native = LogisticRegression(max_iter=500).fit(frame[FEATURES], frame["churned"])
    register(native, "churn-labels", frame[FEATURES])
    pred, proba = native.predict(frame[FEATURES]), native.predict_proba(frame[FEATURES])
    y = frame["churned"].to_numpy()

    default = lw.evaluate("models:/churn-labels/1", data=frame, target="churned", latency_sample=5)
    assert default.task == "classification" and default.classes == ["no", "yes"]
    assert default.metrics["recall"] == pytest.approx(skm.recall_score(y, pred, pos_label="yes"), **APPROX)
    assert default.metrics["roc_auc"] == pytest.approx(skm.roc_auc_score(y == "yes", proba[:, 1]), **APPROX)

    flipped = lw.evaluate(
        "models:/churn-labels/1", data=frame, target="churned", pos_label="no", latency_sample=5
    )
    assert flipped.metrics["recall"] == pytest.approx(skm.recall_score(y, pred, pos_label="no"), **APPROX)
    assert flipped.metrics["pr_auc"] == pytest.approx(
        skm.average_precision_score(y == "no", proba[:, 0]), **APPROX
    )
    assert flipped.metrics["brier_score"] == pytest.approx(
        skm.brier_score_loss(y, proba[:, 0], pos_label="no"), **APPROX
    )
    with pytest.raises(lw.InvalidInput, match="pos_label 'maybe' must be one of"):
        lw.evaluate("models:/churn-labels/1", data=frame, target="churned", pos_label="maybe")


def test_multiclass_metrics_match_sklearn(sqlite_env: Path) -> None:
    iris = load_iris(as_frame=True).frame.rename(columns=lambda c: c.replace(" (cm)", "").replace(" ", "_"))
    features = [c for c in iris.columns if c != "target"]
    rng = np.random.default_rng(1)
    iris["batch"] = rng.choice(["a", "b"], len(iris))
    # a shallow tree makes ties in the scores and mistakes in every class
    native = DecisionTreeClassifier(max_depth=2, random_state=0).fit(iris[features], iris["target"])
    register(native, "iris", iris[features])

    result = lw.evaluate("models:/iris/1", data=iris, target="target", slices=["batch"], latency_sample=5)

    X, y = iris[features], iris["target"].to_numpy()
    pred, proba = native.predict(X), native.predict_proba(X)
    classes = [0, 1, 2]
    onehot = label_binarize(y, classes=classes)
    expected = {
        "accuracy": skm.accuracy_score(y, pred),
        "precision": skm.precision_score(y, pred, average="macro", zero_division=0),
        "recall": skm.recall_score(y, pred, average="macro", zero_division=0),
        "f1": skm.f1_score(y, pred, average="macro", zero_division=0),
        "roc_auc": skm.roc_auc_score(y, proba, multi_class="ovr", average="macro", labels=classes),
        "pr_auc": skm.average_precision_score(onehot, proba, average="macro"),
        "log_loss": skm.log_loss(y, proba, labels=classes),
        "brier_score": float(np.mean(np.sum((onehot - proba) ** 2, axis=1))),
    }
    if tuple(int(p) for p in __import__("sklearn").__version__.split(".")[:2]) >= (1, 7):
        assert expected["brier_score"] == pytest.approx(
            skm.brier_score_loss(y, proba, labels=classes), **APPROX
        )
    for name, value in expected.items():
        assert result.metrics[name] == pytest.approx(value, **APPROX), name
    for key, values in result.slices.items():
        mask = (iris["batch"] == key.split("=")[1]).to_numpy()
        assert values["f1"] == pytest.approx(skm.f1_score(y[mask], pred[mask], average="macro"), **APPROX)
        assert values["roc_auc"] == pytest.approx(
            skm.roc_auc_score(y[mask], proba[mask], multi_class="ovr", labels=classes), **APPROX
        )
    assert any("macro one-vs-rest" in note for note in result.notes)
    for k in classes:
        prob_true, prob_pred = calibration_curve(y == k, proba[:, k], n_bins=10)
        curve = result.curves["calibration"][str(k)]
        np.testing.assert_allclose(curve["prob_true"], prob_true, rtol=1e-12)
        np.testing.assert_allclose(curve["prob_pred"], prob_pred, rtol=1e-12)
    matrix = skm.confusion_matrix(y, pred, labels=classes)
    assert result.curves["confusion_matrix"] == {"labels": ["0", "1", "2"], "matrix": matrix.tolist()}

    # a slice missing a class: one-vs-rest AUC is undefined there, and says so
    only_two = iris[iris["target"] != 2].assign(batch="two-classes")
    part = lw.evaluate("models:/iris/1", data=only_two, target="target", slices=["batch"], latency_sample=5)
    assert part.metrics["roc_auc"] is None and "class 2" in part.missing["overall"]["roc_auc"]
    assert part.slices["batch=two-classes"]["log_loss"] == pytest.approx(
        skm.log_loss(only_two["target"], native.predict_proba(only_two[features]), labels=classes), **APPROX
    )


def test_regression_metrics_match_sklearn(sqlite_env: Path) -> None:
    rng = np.random.default_rng(2)
    n = 400
    frame = pd.DataFrame(
        {"a": rng.normal(size=n), "b": rng.uniform(1, 3, n), "shop": rng.choice(["x", "y"], n)}
    )
    frame["sales"] = 10 + 3 * frame["a"] - 2 * frame["b"] + rng.normal(scale=0.7, size=n)
    frame.loc[frame.index[:5], ["shop", "sales"]] = ["flat", 7.0]  # constant target: R² undefined
    frame.loc[frame.index[5:8], ["shop", "sales"]] = ["zero", 0.0]  # zero target: MAPE undefined
    native = LinearRegression().fit(frame[["a", "b"]], frame["sales"])
    register(native, "sales", frame[["a", "b"]])

    result = lw.evaluate("models:/sales/1", data=frame, target="sales", slices=["shop"], latency_sample=5)

    assert result.task == "regression"
    y, pred = frame["sales"].to_numpy(), native.predict(frame[["a", "b"]])
    residual = y - pred
    assert result.metrics["mae"] == pytest.approx(skm.mean_absolute_error(y, pred), **APPROX)
    assert result.metrics["rmse"] == pytest.approx(np.sqrt(skm.mean_squared_error(y, pred)), **APPROX)
    assert result.metrics["r2"] == pytest.approx(skm.r2_score(y, pred), **APPROX)
    assert result.metrics["residual_mean"] == pytest.approx(residual.mean(), **APPROX)
    assert result.metrics["residual_std"] == pytest.approx(residual.std(), **APPROX)
    assert (
        result.metrics["mape"] is None and "3 row(s) have a target of 0" in result.missing["overall"]["mape"]
    )
    for shop in ("x", "y"):
        mask = (frame["shop"] == shop).to_numpy()
        values = result.slices[f"shop={shop}"]
        assert values["mape"] == pytest.approx(
            skm.mean_absolute_percentage_error(y[mask], pred[mask]), **APPROX
        )
        assert values["r2"] == pytest.approx(skm.r2_score(y[mask], pred[mask]), **APPROX)
    assert result.slices["shop=flat"]["r2"] is None
    assert result.missing["shop=flat"]["r2"] == "undefined: the target is constant here"
    assert result.slices["shop=flat"]["mae"] == pytest.approx(
        skm.mean_absolute_error(y[:5], pred[:5]), **APPROX
    )
    residuals = result.curves["residuals"]
    assert sum(residuals["counts"]) == n and len(residuals["edges"]) == len(residuals["counts"]) + 1
    assert residuals["quantiles"]["p50"] == pytest.approx(np.quantile(residual, 0.5), **APPROX)


@pytest.mark.parametrize("seed", range(6))
def test_ranking_metrics_with_ties_match_sklearn(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 150
    y = rng.random(n) < 0.3
    score = np.round(rng.random(n) + 0.6 * y, 1)  # many ties
    assert roc_auc(y, score) == pytest.approx(skm.roc_auc_score(y, score), **APPROX)
    assert average_precision(y, score) == pytest.approx(skm.average_precision_score(y, score), **APPROX)
    fpr, tpr, _ = skm.roc_curve(y, score, drop_intermediate=False)
    roc = roc_points(y, score)
    np.testing.assert_allclose(roc["fpr"], fpr, rtol=1e-12)
    np.testing.assert_allclose(roc["tpr"], tpr, rtol=1e-12)
    precision, recall, _ = skm.precision_recall_curve(y, score)
    pr = pr_points(y, score)
    np.testing.assert_allclose(pr["precision"][1:], precision[::-1][1:], rtol=1e-12)
    np.testing.assert_allclose(pr["recall"], recall[::-1], rtol=1e-12)
    prob = np.clip(score / 1.6, 0, 1)
    prob_true, prob_pred = calibration_curve(y, prob, n_bins=10)
    curve = calibration(y, prob)
    np.testing.assert_allclose(curve["prob_true"], prob_true, rtol=1e-12)
    np.testing.assert_allclose(curve["prob_pred"], prob_pred, rtol=1e-12)


def test_undefined_metrics_are_missing_with_a_reason_never_nan() -> None:
    y = np.array([0, 0, 0])
    nobody = classification_metrics(y, np.array([0, 0, 0]), np.array([[0.9, 0.1]] * 3), [0, 1])
    assert nobody.values["accuracy"] == 1.0
    for name in ("precision", "recall", "f1", "roc_auc", "pr_auc"):
        assert nobody.values[name] is None and nobody.missing[name], name
    assert nobody.values["log_loss"] == pytest.approx(skm.log_loss(y, [[0.9, 0.1]] * 3, labels=[0, 1]))
    empty = classification_metrics(np.array([], dtype=int), np.array([], dtype=int), None, [0, 1])
    assert set(empty.missing.values()) == {"no rows"}
    broken = regression_metrics(np.array([1.0, 2.0]), np.array([np.nan, 1.0]))
    assert broken.values["mae"] is None and "1 non-finite prediction" in broken.missing["mae"]
    unknown = classification_metrics(np.array([0, 7]), np.array([0, 1]), np.array([[0.5, 0.5]] * 2), [0, 1])
    assert (
        unknown.values["log_loss"] is None
        and "labels the model does not know: 7" in unknown.missing["log_loss"]
    )
