"""Live monitoring over the prediction log, on SQLite and PostgreSQL: windows, drift per served
version, realised metrics from feedback, CBPE estimates, idempotent storage, late labels, bad input.

Traffic is written through the serving ``PredictionLog`` with chosen timestamps (hour windows
without waiting hours); ``test_live_serving.py`` runs the same loop through a real server.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression
from sklearn.metrics import accuracy_score, roc_auc_score
from traffic import HOUR, T0, Traffic, give_feedback, labels_for, register_classifier, sample

import loopwright as lw

ACCURACY_TOLERANCE = 0.03  # CBPE vs realised at n >= 2,000 (see test_live_estimation.py)
AUC_TOLERANCE = 0.04


def _realised(
    traffic: Traffic, ids: list[str], feedback: pd.DataFrame, model: lw.LoadedModel
) -> dict[str, float]:
    """Accuracy and AUC computed here, independently of the monitor, from what was sent."""
    rows = dict(traffic.sent)
    X = pd.concat([rows[i] for i in ids], ignore_index=True)
    keys = pd.DataFrame([(i, r) for i in ids for r in range(len(rows[i]))], columns=["request_id", "row"])
    y = keys.merge(feedback, on=["request_id", "row"])["label"].astype(int).to_numpy()
    proba = model.predict_proba(X)[:, 1]
    return {"accuracy": accuracy_score(y, proba > 0.5), "roc_auc": roc_auc_score(y, proba)}


def test_windows_drift_metrics_estimates_and_idempotency(lw_env: Path) -> None:
    register_classifier()
    model = lw.load_model("models:/churn/1")
    rng = np.random.default_rng(11)
    traffic = Traffic()
    # hour 0 baseline, hour 1 shifted, hour 2 no traffic, hour 3 baseline without labels (yet)
    base = traffic.send(sample(2000, rng), T0 + 60_000, model, 1)
    shifted = traffic.send(sample(2000, rng, shifted=True), T0 + HOUR + 60_000, model, 1)
    late = traffic.send(sample(2000, rng), T0 + 3 * HOUR + 60_000, model, 1)
    traffic.flush()
    rows = dict(traffic.sent)
    assert give_feedback("churn", base + shifted, rows, rng) == 4000

    alerts = {"metrics": {"accuracy": {"min": 0.8}}}
    now = T0 + 4 * HOUR + 120_000
    windows = lw.monitor("churn", window="1h", since=T0, now=now, alerts=alerts, include_open=False)
    assert [(w.start_ms - T0) // HOUR for w in windows] == [0, 1, 2, 3]
    assert [w.status for w in windows] == ["ok", "drifted", "empty", "ok"]  # drifting is never "ok"
    assert [w.drifted for w in windows] == [False, True, None, False]  # empty: no verdict, not "no drift"
    assert windows[1].drifted_features == ["f0", "f1"]
    assert [w.n_rows for w in windows] == [2000, 2000, 0, 2000]
    assert [w.label_status for w in windows] == ["complete", "complete", "", "pending"]
    assert windows[3].metrics == {} and windows[3].labelled == 0
    assert windows[0].model_versions == ["churn/1"] and windows[2].model_versions == []
    assert all(w.closed for w in windows)

    feedback = lw.list_feedback("churn")
    for w, ids in ((windows[0], base), (windows[1], shifted)):
        expected = _realised(traffic, ids, feedback, model)
        assert w.metrics["accuracy"] == pytest.approx(expected["accuracy"])
        assert w.metrics["roc_auc"] == pytest.approx(expected["roc_auc"])
        assert abs(w.estimated["accuracy"] - w.metrics["accuracy"]) <= ACCURACY_TOLERANCE
        assert abs(w.estimated["roc_auc"] - w.metrics["roc_auc"]) <= AUC_TOLERANCE
    # the estimate needs no labels: the unlabelled window has one, and the shifted window's drop shows
    assert windows[1].estimated["accuracy"] < 0.8 < windows[3].estimated["accuracy"]

    # alerts fired on the shifted hour; the unlabelled hour resolves only the estimate
    assert any(a.startswith("firing: dataset drift") for a in windows[1].alerts)
    assert any(a.startswith("firing: accuracy") for a in windows[1].alerts)
    assert any(a.startswith("firing: estimated accuracy") for a in windows[1].alerts)
    assert [a.split(" ")[:3] for a in windows[3].alerts] == [
        ["resolved:", "dataset", "drift:"],
        ["resolved:", "estimated", "accuracy"],
    ]
    store = lw.get_client().store
    events = store.list_alert_events("churn")
    assert [(e.rule, e.status) for e in events] == [
        ("drift", "firing"),
        ("metric:accuracy", "firing"),
        ("estimated:accuracy", "firing"),
        ("drift", "resolved"),
        ("estimated:accuracy", "resolved"),
    ]
    assert all(e.delivery == "none" for e in events)  # no webhook configured: a log line only

    # history, and re-running the same windows neither duplicates them nor repeats alerts
    history = lw.list_monitor_windows("churn")
    assert [(w.start_ms, w.status, w.drifted) for w in history] == [
        (w.start_ms, w.status, w.drifted) for w in windows
    ]
    assert history[1].metrics == windows[1].metrics and history[1].estimated == windows[1].estimated
    again = lw.monitor("churn", window="1h", since=T0, now=now, alerts=alerts, include_open=False)
    assert len(again) == 4 and len(lw.list_monitor_windows("churn")) == 4
    assert len(store.list_alert_events("churn")) == len(events)
    frame = lw.list_monitor_windows("churn", window="1h").to_frame()
    assert list(frame["status"]) == ["ok", "drifted", "empty", "ok"]
    assert {"accuracy", "roc_auc", "estimated_accuracy", "estimated_roc_auc"} <= set(frame.columns)
    assert str(frame["start"].dt.tz) == "UTC"

    # labels for hour 3 arrive late: the next run (resuming, nothing new due) fills its metrics in
    give_feedback("churn", late, rows, rng)
    resumed = lw.monitor("churn", window="1h", now=now, alerts=alerts, include_open=False)
    assert [(w.start_ms - T0) // HOUR for w in resumed] == [3]
    assert resumed[0].label_status == "complete" and resumed[0].drifted is False  # drift kept
    expected = _realised(traffic, late, lw.list_feedback("churn"), model)
    assert resumed[0].metrics["accuracy"] == pytest.approx(expected["accuracy"])
    stored = lw.list_monitor_windows("churn")[3]
    assert stored.metrics == resumed[0].metrics
    # ... and the realised-accuracy alert, firing since hour 1, resolves on them
    assert stored.alerts == [*windows[3].alerts, resumed[0].alerts[-1]]
    assert resumed[0].alerts[-1].startswith("resolved: accuracy")
    assert [(e.rule, e.status) for e in store.list_alert_events("churn")][-1] == (
        "metric:accuracy",
        "resolved",
    )
    traffic.close()


def test_open_window_is_recomputed_until_it_closes(sqlite_env: Path) -> None:
    register_classifier()
    model = lw.load_model("models:/churn/1")
    rng = np.random.default_rng(2)
    traffic = Traffic()
    traffic.send(sample(500, rng), T0 + 60_000, model, 1)
    traffic.flush()
    first = lw.monitor("churn", window="1h", now=T0 + 10 * 60_000)
    assert [(w.start_ms, w.closed, w.n_rows) for w in first] == [(T0, False, 500)]
    traffic.send(sample(500, rng), T0 + 20 * 60_000, model, 1)
    traffic.flush()
    # 10 s after the hour the window is still open: the log may not have drained (30 s grace)
    graced = lw.monitor("churn", window="1h", now=T0 + HOUR + 10_000)
    assert [(w.start_ms, w.closed, w.n_rows) for w in graced] == [(T0, False, 1000), (T0 + HOUR, False, 0)]
    # the first run without `since` started at the oldest logged prediction; later runs resume
    second = lw.monitor("churn", window="1h", now=T0 + HOUR + 60_000)
    assert [(w.start_ms, w.closed, w.n_rows) for w in second] == [(T0, True, 1000), (T0 + HOUR, False, 0)]
    third = lw.monitor("churn", window="1h", now=T0 + HOUR + 5 * 60_000)
    assert [w.start_ms for w in third] == [T0 + HOUR]  # the closed hour is final, not redone
    assert [w.n_rows for w in lw.list_monitor_windows("churn")] == [1000, 0]
    traffic.close()


def test_bad_input_gets_clear_statuses(sqlite_env: Path) -> None:
    rng = np.random.default_rng(3)
    # a reference with a categorical and a constant feature besides the model's inputs
    ref = sample(3000, rng)
    ref["plan"] = rng.choice(["basic", "plus"], 3000)
    ref["const"] = 1.0
    register_classifier(profile=False)
    lw.profile(ref, model="models:/churn/1")
    register_classifier(profile=False, seed=1)  # version 2: no reference profile
    traffic = Traffic()

    def frame(n: int) -> pd.DataFrame:
        X = sample(n, rng)
        X["plan"] = rng.choice(["basic", "plus", "enterprise"], n)  # a category never seen
        X["const"] = 1.0
        X["f2"] = np.nan  # all missing
        return X.drop(columns=["f1"])  # missing from the logged inputs

    def send(X: pd.DataFrame, ts: int, version: int | None, name: str | None = "churn") -> list[str]:
        return traffic.send(X, ts, None, version, predictions=np.zeros(len(X), dtype=int), name=name)

    send(frame(800), T0 + 1000, 1)
    send(sample(800, rng), T0 + 2 * HOUR + 1000, 2)
    send(sample(400, rng), T0 + 3 * HOUR + 1000, 1)
    send(sample(400, rng), T0 + 3 * HOUR + 2000, 2)
    send(sample(300, rng), T0 + 4 * HOUR + 1000, None, name=None)  # e.g. a served runs:/ URI
    traffic.flush()
    windows = lw.monitor("churn", window="1h", since=T0, now=T0 + 5 * HOUR + 60_000, include_open=False)
    odd, empty, unprofiled, mixed, unregistered = windows

    # drifting (the unseen category) wins the status; the untestable features are still listed
    assert odd.status == "drifted" and odd.drifted is True and odd.verdict == "drift"
    assert odd.problems == {
        "f1": "missing_in_current",
        "f2": "all_missing",
        "plan": "new_categories",
        "const": "constant",
    }
    notes = " | ".join(odd.messages)
    assert "'f1' is missing from the current data" in notes and "'enterprise'" in notes
    assert "all values are missing in the current data" in notes
    assert odd.effects["f1"] is None and odd.effects["f0"] is not None
    assert odd.label_status == "pending" and odd.metrics == {} and odd.estimated == {}  # no scores

    assert empty.status == "empty" and empty.drifted is None and empty.share_drifted is None
    assert unprofiled.status == "no_reference" and unprofiled.drifted is None
    assert unprofiled.model_versions == ["churn/2"]
    assert "lw.profile(training_data, model='models:/churn/2')" in unprofiled.messages[0]
    # churn/1's logged predictions (all 0) drifted from its reference; churn/2 has no reference
    assert mixed.model_versions == ["churn/1", "churn/2"] and mixed.status == "drifted"
    assert mixed.drifted_versions == ["churn/1"] and mixed.headline().startswith("DRIFT in churn/1:")
    assert mixed.versions["churn/2"]["status"] == "no_reference"
    assert mixed.versions["churn/1"]["rows"] == 400 and mixed.drifted is not None
    assert unregistered.status == "no_reference" and unregistered.model_versions == ["unregistered"]
    assert "not a registered version" in unregistered.messages[0] and unregistered.n_rows == 300
    traffic.close()


def test_regression_endpoint_gets_mae_and_rmse(sqlite_env: Path) -> None:
    rng = np.random.default_rng(4)
    X = sample(2000, rng)
    y = X.f0 * 3 + X.f1 + rng.normal(0, 0.5, 2000)
    model = LinearRegression().fit(X, y)
    with lw.start_run():
        info = lw.log_model(model, "model", input_example=X.head(2))
    lw.register_model(info.uri, "price")
    lw.profile(X, model="models:/price/1")
    loaded = lw.load_model("models:/price/1")
    traffic = Traffic("price")
    live = sample(600, rng)
    ids = traffic.send(live, T0 + 5000, loaded, 1, name="price")
    traffic.flush()
    truth = (live.f0 * 3 + live.f1).to_numpy()
    rows = dict(traffic.sent)
    offset = 0
    for rid in ids:
        n = len(rows[rid])
        lw.log_feedback("price", rid, truth[offset : offset + n].tolist())
        offset += n
    (w,) = lw.monitor("price", window="1h", since=T0, now=T0 + HOUR + 60_000, include_open=False)
    err = model.predict(live) - truth
    assert w.metrics["mae"] == pytest.approx(np.abs(err).mean())
    assert w.metrics["rmse"] == pytest.approx(np.sqrt(np.mean(err**2)))
    assert w.estimated == {} and w.drifted is False
    traffic.close()


def test_labels_helper_is_calibrated() -> None:
    rng = np.random.default_rng(0)
    X = sample(20_000, rng)
    assert abs(labels_for(X, rng).mean() - 0.5) < 0.02


def test_a_since_far_in_the_past_is_refused_not_expanded(sqlite_env: Path) -> None:
    # 3 s windows since 2001 (epoch ms): millions of windows
    with pytest.raises(lw.InvalidInput, match="max_windows"):
        lw.monitor("churn", window="3s", since=1_000_000_000_000)
