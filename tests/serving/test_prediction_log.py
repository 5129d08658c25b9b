"""The prediction log and feedback round trip, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
from openai_models import CharEmbeddings
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.linear_model import LinearRegression

import loopwright as lw
from conftest import FEATURES, records, register, training_data
from loopwright.serving import ServerHandle
from loopwright.serving.inputs import ModelInput
from loopwright.serving.prediction_log import PredictionLog


def test_predictions_and_feedback_round_trip(lw_env: Path, serve: Callable[..., ServerHandle]) -> None:
    X, y = training_data()
    model = GradientBoostingClassifier(n_estimators=10, random_state=0).fit(X, y)
    register(model, "churn", X.head(3), alias="champion")
    server = serve("models:/churn@champion")
    url = f"{server.url}/endpoints/churn/predict"
    before = datetime.now(UTC) - timedelta(seconds=1)
    sent = [X.iloc[:1], X.iloc[1:4], X.iloc[4:5]]
    ids = []
    with httpx.Client(timeout=30) as http:
        for rows in sent:
            ids.append(http.post(url, json={"instances": records(rows)}).json()["request_id"])
        oip = {
            "inputs": [
                {"name": f, "shape": [2], "datatype": "FP64", "data": X.iloc[5:7][f].tolist()}
                for f in FEATURES
            ]
        }
        ids.append(http.post(f"{server.url}/v2/models/churn/infer", json=oip).json()["id"])
        sent.append(X.iloc[5:7])
        server.app.prediction_log.flush()

        log = lw.list_predictions("churn", since=before)
        assert list(log.columns) == [
            "request_id", "row", "timestamp", "endpoint", "model_name", "model_version", "latency_ms",
            *FEATURES, "prediction", "score",
        ]  # fmt: skip
        assert len(log) == 7
        assert log["request_id"].tolist() == [ids[0], ids[1], ids[1], ids[1], ids[2], ids[3], ids[3]]
        assert log["row"].tolist() == [0, 0, 1, 2, 0, 0, 1]
        assert (log["endpoint"] == "churn").all() and (log["model_name"] == "churn").all()
        assert (log["model_version"] == 1).all() and (log["latency_ms"] > 0).all()
        assert str(log["timestamp"].dt.tz) == "UTC" and (log["timestamp"] >= before).all()
        inputs = pd.concat(sent)
        np.testing.assert_allclose(log[FEATURES].to_numpy(), inputs.to_numpy())
        assert log["prediction"].tolist() == model.predict(inputs).tolist()
        np.testing.assert_allclose(log["score"], model.predict_proba(inputs)[:, 1])

        assert lw.list_predictions("churn", since=datetime.now(UTC) + timedelta(hours=1)).empty
        assert len(lw.list_predictions("churn", until=before)) == 0
        assert lw.list_predictions("nope").empty

        # ground truth: a label for a one-row request, a list for a three-row request
        r = http.post(f"{server.url}/endpoints/churn/feedback", json={"request_id": ids[0], "label": 1})
        assert r.status_code == 200 and r.json()["rows"] == 1
        r = http.post(
            f"{server.url}/endpoints/churn/feedback", json={"request_id": ids[1], "label": [0, 1, 1]}
        )
        assert r.json()["rows"] == 3
        assert http.post(f"{server.url}/endpoints/churn/feedback", json={"label": 1}).status_code == 422
        assert (
            http.post(
                f"{server.url}/endpoints/nope/feedback", json={"request_id": "x", "label": 1}
            ).status_code
            == 404
        )
    lw.log_feedback("churn", ids[2], 0)
    lw.log_feedback("churn", ids[0], 0)  # a correction replaces the earlier label
    feedback = lw.list_feedback("churn", since=before)
    assert list(feedback.columns) == ["request_id", "row", "label", "timestamp", "endpoint"]
    labels = {(r.request_id, r.row): r.label for r in feedback.itertuples()}
    assert labels == {(ids[0], 0): 0, (ids[1], 0): 0, (ids[1], 1): 1, (ids[1], 2): 1, (ids[2], 0): 0}
    joined = log.merge(feedback, on=["request_id", "row"])
    assert len(joined) == 5


def test_regressor_log_has_no_score_and_survives_restart(
    sqlite_env: Path, serve: Callable[..., ServerHandle]
) -> None:
    X, _ = training_data()
    model = LinearRegression().fit(X, X.f0 * 3)
    register(model, "price", X.head(3))
    server = serve("models:/price/1")
    httpx.post(f"{server.url}/endpoints/price/predict", json={"instances": records(X.iloc[:2])})
    server.stop()  # shutdown writes what is queued
    log = lw.list_predictions("price", since=timedelta(minutes=5))
    assert len(log) == 2 and log["score"].isna().all()
    np.testing.assert_allclose(log["prediction"], model.predict(X.iloc[:2]))
    refs = lw.get_client().store.list_prediction_log_files("price")
    assert refs and all(f.n_rows == 2 for f in refs)
    # every log file is referenced from `artifacts`, so gc keeps it
    assert {f.digest for f in refs} <= lw.get_client().store.referenced_digests()


def test_predict_and_embeddings_rows_in_one_tick_are_all_logged(
    lw_env: Path, serve: Callable[..., ServerHandle]
) -> None:
    # /predict sends an embedding endpoint records (a frame of texts), /v1/embeddings a list of texts:
    # rows of two shapes in one spool tick once made one table that could not be built, losing both
    with lw.start_run(name="embedder"):
        info = lw.log_model(CharEmbeddings(), "model", metadata={"task": "embeddings"})
    lw.register_model(info.uri, "chars")
    server = serve("models:/chars/1")
    log = server.app.prediction_log
    log.spool_interval = 3600.0  # both requests wait for the flush below: one tick holds them
    lost: list[int] = []
    log.on_rows = lambda event, endpoint, rows: lost.append(rows) if event == "lost" else None
    with httpx.Client(timeout=30) as http:
        predicted = http.post(
            f"{server.url}/endpoints/chars/predict", json={"instances": [{"text": "a b"}, {"text": "xyz"}]}
        )
        embedded = http.post(f"{server.url}/v1/embeddings", json={"model": "chars", "input": ["hello world"]})
    assert predicted.status_code == embedded.status_code == 200, (predicted.text, embedded.text)
    assert log.flush() and lost == []

    rows = lw.list_predictions("chars").sort_values(["request_id", "row"], ignore_index=True)
    mine, theirs = rows[rows["request_id"] == predicted.headers["x-request-id"]], rows.drop(columns="text")
    assert mine["text"].tolist() == ["a b", "xyz"] and mine["input"].isna().all()
    assert [list(p)[:2] for p in mine["prediction"]] == [[3, 1], [3, 0]]
    [embedding] = theirs[theirs["request_id"] == embedded.headers["x-request-id"]].to_dict("records")
    assert embedding["input"] == "hello world" and embedding["prediction"][:2] == [11, 1]
    # one file per row shape, each readable alone as the monitor reads it
    files = lw.get_client().store.list_prediction_log_files("chars")
    assert sorted(f.n_rows for f in files) == [1, 2]


def test_an_unencodable_answer_loses_only_its_own_request(tmp_path: Path) -> None:
    # three requests of one shape in one tick; the middle one's answer has two values for one row
    client = lw.Client(f"sqlite:///{tmp_path}/lw.db", f"{tmp_path}/artifacts")
    lost: list[tuple[str, int]] = []
    log = PredictionLog(
        lambda: client,
        spool_dir=tmp_path / "spool",
        spool_interval=3600.0,
        on_rows=lambda event, endpoint, rows: lost.append((endpoint, rows)) if event == "lost" else None,
    )
    for i, answer in enumerate([np.array([1]), np.array([1, 0]), np.array([0])]):
        data = ModelInput(np.array([[float(i), 2.0]]), 1, ("a", "b"))
        log.record("churn", f"r{i}", 1_700_000_000_000 + i, None, "churn", 1, 1.0, data, answer)
    assert log.flush()
    log.close()
    rows = lw.list_predictions("churn", client=client)
    assert rows[["request_id", "a", "prediction"]].to_dict("records") == [
        {"request_id": "r0", "a": 0.0, "prediction": 1},
        {"request_id": "r2", "a": 2.0, "prediction": 0},
    ]
    assert lost == [("churn", 1)]
    client.close()
