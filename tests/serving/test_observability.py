"""Prometheus metrics, structured access logs and the request token."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable

import httpx
import pytest

from conftest import Registered, records
from loopwright.serving import ServerHandle


def _value(metrics: str, name: str, **labels: str) -> float:
    for line in metrics.splitlines():
        if line.startswith(name + "{"):
            found = dict(re.findall(r'(\w+)="([^"]*)"', line[len(name) :].split("}")[0]))
            if all(found.get(k) == v for k, v in labels.items()):
                return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} {labels} not in /metrics")


def test_prometheus_metrics(
    registered: Registered, serve: Callable[..., ServerHandle], http: httpx.Client
) -> None:
    server = serve("models:/churn@champion")
    url = f"{server.url}/endpoints/churn/predict"
    for _ in range(3):
        http.post(url, json={"instances": records(registered.X.iloc[:4])})
    http.post(url, json={"instances": [{"f0": "x"}]})
    http.post(url, content=b"{", headers={"Content-Type": "application/json"})
    r = http.get(f"{server.url}/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    m = r.text
    assert (
        _value(m, "loopwright_requests_total", endpoint="churn", version="1", protocol="predict", code="200")
        == 3
    )
    assert _value(m, "loopwright_requests_total", endpoint="churn", protocol="predict", code="422") == 1
    assert _value(m, "loopwright_request_errors_total", endpoint="churn", code="400") == 1
    assert _value(m, "loopwright_request_latency_seconds_count", endpoint="churn", version="1") == 3
    assert (
        _value(m, "loopwright_request_latency_seconds_bucket", endpoint="churn", version="1", le="+Inf") == 3
    )
    assert _value(m, "loopwright_batch_rows_sum", endpoint="churn", version="1") == 12
    batches = sum(
        _value(m, "loopwright_batches_total", endpoint="churn", version="1", reason=r)
        for r in ("size", "time")
    )
    assert batches == _value(m, "loopwright_batch_rows_count", endpoint="churn", version="1")
    assert _value(m, "loopwright_queue_rows", endpoint="churn", version="1") == 0
    assert _value(m, "loopwright_model_served", endpoint="churn", version="1", role="route") == 1
    assert "loopwright_prediction_log_dropped_total" in m


def test_prediction_log_drops_are_counted_and_never_fail_requests(
    registered: Registered, serve: Callable[..., ServerHandle], http: httpx.Client
) -> None:
    server = serve("models:/churn@champion", log_queue_rows=3)
    url = f"{server.url}/endpoints/churn/predict"
    for _ in range(6):  # 4 rows never fit a 3-row queue: dropped from the log, answered all the same
        assert http.post(url, json={"instances": records(registered.X.iloc[:4])}).status_code == 200
    for _ in range(2):
        assert http.post(url, json={"instances": records(registered.X.iloc[:1])}).status_code == 200
    dropped = _value(
        http.get(f"{server.url}/metrics").text, "loopwright_prediction_log_dropped_total", endpoint="churn"
    )
    assert dropped == 6
    assert server.app.prediction_log.flush()
    written = _value(
        http.get(f"{server.url}/metrics").text, "loopwright_prediction_log_written_total", endpoint="churn"
    )
    assert written == 2


def test_token_protects_predict_and_admin_routes(
    registered: Registered, serve: Callable[..., ServerHandle], http: httpx.Client
) -> None:
    server = serve("models:/churn@champion", token="s3cret")
    payload = {"instances": records(registered.X.iloc[:1])}
    protected = [
        ("POST", "/endpoints/churn/predict", payload),
        ("POST", "/invocations", payload),
        ("POST", "/v2/models/churn/infer", {"inputs": []}),
        ("POST", "/endpoints/churn/feedback", {"request_id": "r", "label": 1}),
        ("POST", "/admin/reload", None),
    ]
    for method, path, body in protected:
        assert http.request(method, server.url + path, json=body).status_code == 401, path
        wrong = {"Authorization": "Bearer nope"}
        assert http.request(method, server.url + path, json=body, headers=wrong).status_code == 403, path
    ok = {"Authorization": "Bearer s3cret"}
    assert http.post(f"{server.url}/endpoints/churn/predict", json=payload, headers=ok).status_code == 200
    assert http.post(f"{server.url}/admin/reload", headers=ok).status_code == 200
    for path in ("/v2/health/live", "/v2/health/ready", "/metrics", "/ping", "/v2/models/churn"):
        assert http.get(server.url + path).status_code == 200, path


def test_admin_role_token(
    registered: Registered, serve: Callable[..., ServerHandle], http: httpx.Client
) -> None:
    server = serve("models:/churn@champion", token="predictor", admin_token="operator")
    payload = {"instances": records(registered.X.iloc[:1])}
    predictor = {"Authorization": "Bearer predictor"}
    operator = {"Authorization": "Bearer operator"}
    url = f"{server.url}/endpoints/churn/predict"
    assert http.post(url, json=payload, headers=predictor).status_code == 200
    assert http.post(url, json=payload, headers=operator).status_code == 200
    assert http.post(url, json=payload).status_code == 401
    refused = http.post(f"{server.url}/admin/reload", headers=predictor)
    assert refused.status_code == 403 and "admin token" in refused.json()["error"]
    assert http.post(f"{server.url}/admin/reload").status_code == 401
    assert http.post(f"{server.url}/admin/reload", headers=operator).status_code == 200


def test_token_from_environment(
    registered: Registered,
    serve: Callable[..., ServerHandle],
    http: httpx.Client,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LOOPWRIGHT_TOKEN", "from-env")
    server = serve("models:/churn@champion")
    payload = {"instances": records(registered.X.iloc[:1])}
    assert http.post(f"{server.url}/endpoints/churn/predict", json=payload).status_code == 401
    r = http.post(
        f"{server.url}/endpoints/churn/predict", json=payload, headers={"Authorization": "Bearer from-env"}
    )
    assert r.status_code == 200


def test_structured_access_log(
    registered: Registered,
    serve: Callable[..., ServerHandle],
    http: httpx.Client,
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = serve("models:/churn@champion")
    with caplog.at_level(logging.INFO, logger="loopwright.serving.access"):
        r = http.post(
            f"{server.url}/endpoints/churn/predict", json={"instances": records(registered.X.iloc[:3])}
        )
        http.get(f"{server.url}/v2/models/nope")
    lines = [
        json.loads(rec.getMessage()) for rec in caplog.records if rec.name == "loopwright.serving.access"
    ]
    first, second = lines
    assert first["request_id"] == r.headers["x-request-id"]
    assert (
        first["method"],
        first["path"],
        first["status"],
        first["endpoint"],
        first["model_version"],
        first["rows"],
    ) == (
        "POST",
        "/endpoints/churn/predict",
        200,
        "churn",
        1,
        3,
    )
    assert first["latency_ms"] >= 0
    assert (second["status"], second["path"]) == (404, "/v2/models/nope")
