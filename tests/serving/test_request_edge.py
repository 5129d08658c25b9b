"""The request edge: bearer tokens per RFC 7235, authentication before routing, unique request ids."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

import loopwright as lw
from conftest import Registered, records
from loopwright.serving import ServerHandle


def test_bearer_scheme_is_case_insensitive(
    registered: Registered, serve: Callable[..., ServerHandle], http: httpx.Client
) -> None:
    server = serve("models:/churn@champion", token="s3cret", admin_token="0per4tor")
    payload = {"instances": records(registered.X.iloc[:1])}
    url = f"{server.url}/endpoints/churn/predict"
    for scheme in ("Bearer", "bearer", "BEARER", "bEaReR"):
        assert http.post(url, json=payload, headers={"Authorization": f"{scheme} s3cret"}).status_code == 200
        r = http.post(f"{server.url}/admin/reload", headers={"Authorization": f"{scheme} 0per4tor"})
        assert r.status_code == 200, (scheme, r.text)
    assert http.post(url, json=payload, headers={"Authorization": "bearer S3CRET"}).status_code == 403
    r = http.post(url, json=payload, headers={"Authorization": "Basic s3cret"})
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"


def test_unknown_routes_and_endpoints_authenticate_first(
    registered: Registered, serve: Callable[..., ServerHandle], http: httpx.Client
) -> None:
    server = serve("models:/churn@champion", token="s3cret")
    payload = {"instances": records(registered.X.iloc[:1])}
    ok = {"Authorization": "Bearer s3cret"}
    unknown = [
        ("POST", "/endpoints/nope/predict", payload),
        ("POST", "/endpoints/nope/feedback", {"request_id": "r", "label": 1}),
        ("POST", "/v2/models/nope/infer", {"inputs": []}),
        ("POST", "/v2/models/nope/versions/1/infer", {"inputs": []}),
        ("GET", "/no/such/route", None),
        ("POST", "/admin/nothing", None),
    ]
    for method, path, body in unknown:
        # without a valid token, an unknown name answers like a known one: nothing to learn
        r = http.request(method, server.url + path, json=body)
        assert r.status_code == 401, (path, r.text)
        assert "nope" not in r.text
        wrong = http.request(method, server.url + path, json=body, headers={"Authorization": "Bearer x"})
        assert wrong.status_code == 403, (path, wrong.text)
        found = http.request(method, server.url + path, json=body, headers=ok)
        assert found.status_code == 404, (path, found.text)
    assert http.post(f"{server.url}/endpoints/churn/predict", json=payload).status_code == 401
    for path in ("/v2/health/live", "/v2/health/ready", "/metrics", "/ping", "/v2/models/churn"):
        assert http.get(server.url + path).status_code == 200, path  # probes and metadata stay open


def test_duplicate_client_request_id_is_refused_per_endpoint(
    registered: Registered, serve: Callable[..., ServerHandle], http: httpx.Client
) -> None:
    server = serve("models:/churn@champion")
    rows = registered.X.iloc[:2]
    url = f"{server.url}/endpoints/churn/predict"
    first = http.post(url, json={"instances": records(rows)}, headers={"X-Request-ID": "order-17"})
    assert first.status_code == 200 and first.json()["request_id"] == "order-17"
    for path, body in (
        ("/endpoints/churn/predict", {"instances": records(rows)}),
        ("/invocations", {"dataframe_records": records(rows)}),
        (
            "/v2/models/churn/infer",
            {
                "inputs": [
                    {"name": c, "shape": [2], "datatype": "FP64", "data": rows[c].tolist()} for c in rows
                ]
            },
        ),
    ):
        r = http.post(server.url + path, json=body, headers={"X-Request-ID": "order-17"})
        assert r.status_code == 409, (path, r.text)
        assert "order-17" in r.json()["error"] and r.json()["error_code"] == "CONFLICT"
    # a request refused before predicting leaves its id free; server-assigned ids never collide
    bad = http.post(url, json={"instances": [{"f0": "x"}]}, headers={"X-Request-ID": "order-18"})
    assert bad.status_code == 422
    assert (
        http.post(url, json={"instances": records(rows)}, headers={"X-Request-ID": "order-18"}).status_code
        == 200
    )
    ids = {http.post(url, json={"instances": records(rows)}).json()["request_id"] for _ in range(3)}
    assert len(ids) == 3
    # the prediction log holds each client id once, so feedback joins one prediction
    assert server.app.prediction_log is not None
    server.app.prediction_log.flush()
    log = lw.list_predictions("churn")
    assert log.groupby("request_id")["row"].apply(list).loc[["order-17", "order-18"]].tolist() == [
        [0, 1],
        [0, 1],
    ]


@pytest.mark.parametrize("request_id", ["a\x00b", "line\nbreak", "\x1b[31m"])
def test_feedback_refuses_request_ids_with_control_characters(request_id: str) -> None:
    from loopwright.serving.feedback import feedback_records

    with pytest.raises(lw.InvalidInput, match="printable characters only"):
        feedback_records("churn", request_id, 1)
