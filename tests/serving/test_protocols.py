"""Each protocol against the real server: Open Inference Protocol v2, MLflow scoring, /predict."""

from __future__ import annotations

import io
from collections.abc import Callable

import httpx
import tritonclient.http as triton

from conftest import FEATURES, Registered, records
from loopwright.serving import ServerHandle


def test_predict_endpoint_returns_predictions_version_and_request_id(
    registered: Registered, serve: Callable[..., ServerHandle], http: httpx.Client
) -> None:
    server = serve("models:/churn@champion")
    rows = registered.X.iloc[:7]
    r = http.post(f"{server.url}/endpoints/churn/predict", json={"instances": records(rows)})
    assert r.status_code == 200
    body = r.json()
    assert body["predictions"] == registered.gbc.predict(rows).tolist()
    assert body["model_version"] == 1
    assert body["model_name"] == "churn"
    assert body["request_id"] == r.headers["x-request-id"]
    assert r.headers["x-model-version"] == "1"


def test_client_request_id_is_kept(
    registered: Registered, serve: Callable[..., ServerHandle], http: httpx.Client
) -> None:
    server = serve("models:/churn/2")
    r = http.post(
        f"{server.url}/endpoints/churn/predict",
        json={"instances": records(registered.X.iloc[:1])},
        headers={"X-Request-ID": "client-123"},
    )
    assert r.json()["request_id"] == "client-123" == r.headers["x-request-id"]
    assert r.json()["predictions"] == registered.logreg.predict(registered.X.iloc[:1]).tolist()


def test_open_inference_protocol_routes(
    registered: Registered, serve: Callable[..., ServerHandle], http: httpx.Client
) -> None:
    server = serve("models:/churn@champion")
    assert http.get(f"{server.url}/v2/health/live").status_code == 200
    assert http.get(f"{server.url}/v2/health/ready").status_code == 200
    assert http.get(f"{server.url}/v2").json()["name"] == "loopwright"
    meta = http.get(f"{server.url}/v2/models/churn").json()
    assert meta["name"] == "churn" and meta["versions"] == ["1"]
    assert [(i["name"], i["datatype"]) for i in meta["inputs"]] == [(f, "FP64") for f in FEATURES]
    assert http.get(f"{server.url}/v2/models/churn/ready").json() == {"name": "churn", "ready": True}
    assert http.get(f"{server.url}/v2/models/churn/versions/1/ready").status_code == 200

    rows = registered.X.iloc[:4]
    request = {
        "id": "oip-1",
        "inputs": [{"name": f, "shape": [4], "datatype": "FP64", "data": rows[f].tolist()} for f in FEATURES],
    }
    r = http.post(f"{server.url}/v2/models/churn/infer", json=request)
    assert r.status_code == 200
    body = r.json()
    assert body["model_name"] == "churn" and body["model_version"] == "1" and body["id"] == "oip-1"
    (out,) = body["outputs"]
    assert out["shape"] == [4] and out["datatype"] == "INT64"
    assert out["data"] == registered.gbc.predict(rows).tolist()

    # one [N, columns] matrix in signature order, to a pinned version
    matrix = {
        "inputs": [
            {"name": "x", "shape": [4, 5], "datatype": "FP64", "data": rows.to_numpy().ravel().tolist()}
        ]
    }
    r = http.post(f"{server.url}/v2/models/churn/versions/1/infer", json=matrix)
    assert r.json()["outputs"][0]["data"] == registered.gbc.predict(rows).tolist()
    assert http.post(f"{server.url}/v2/models/churn/versions/9/infer", json=matrix).status_code == 404


def test_unmodified_triton_client_json_and_binary(
    registered: Registered, serve: Callable[..., ServerHandle]
) -> None:
    server = serve("models:/churn@champion")
    client = triton.InferenceServerClient(url=server.url.removeprefix("http://"))
    assert client.is_server_live() and client.is_server_ready() and client.is_model_ready("churn")
    assert client.get_model_metadata("churn")["versions"] == ["1"]
    rows = registered.X.iloc[:6]
    expected = registered.gbc.predict(rows).tolist()
    for binary in (False, True):  # binary=True is the client's default (binary tensor extension)
        inputs = []
        for f in FEATURES:
            tensor = triton.InferInput(f, [6], "FP64")
            tensor.set_data_from_numpy(rows[f].to_numpy(), binary_data=binary)
            inputs.append(tensor)
        result = client.infer("churn", inputs)
        assert result.as_numpy("predict").tolist() == expected
        assert result.get_response()["model_version"] == "1"
    client.close()


def test_mlflow_invocations_formats(
    registered: Registered, serve: Callable[..., ServerHandle], http: httpx.Client
) -> None:
    server = serve("models:/churn@challenger")
    rows = registered.X.iloc[:3]
    expected = registered.logreg.predict(rows).tolist()
    payloads = [
        {"dataframe_split": {"columns": list(rows.columns), "data": rows.to_numpy().tolist()}},
        {
            "dataframe_split": {
                "columns": list(reversed(rows.columns)),
                "data": rows[list(reversed(rows.columns))].to_numpy().tolist(),
            }
        },
        {"dataframe_records": records(rows)},
        {"instances": records(rows)},
        {"inputs": {c: rows[c].tolist() for c in rows.columns}},
    ]
    for payload in payloads:
        r = http.post(f"{server.url}/invocations", json=payload)
        assert r.status_code == 200, (payload, r.text)
        assert r.json() == {"predictions": expected}
        assert r.headers["x-model-version"] == "2"
    csv = io.StringIO()
    rows.to_csv(csv, index=False)
    r = http.post(f"{server.url}/invocations", content=csv.getvalue(), headers={"Content-Type": "text/csv"})
    assert r.json() == {"predictions": expected}
    assert http.get(f"{server.url}/ping").status_code == 200
    assert http.get(f"{server.url}/health").status_code == 200
    # MLflow's 400 and error code for input errors on its route (our own routes answer 422)
    r = http.post(f"{server.url}/invocations", json={"instances": [], "inputs": []})
    assert r.status_code == 400 and r.json()["error_code"] == "BAD_REQUEST"


def test_endpoint_listing(
    registered: Registered, serve: Callable[..., ServerHandle], http: httpx.Client
) -> None:
    server = serve("models:/churn@champion")
    (endpoint,) = http.get(f"{server.url}/endpoints").json()["endpoints"]
    assert endpoint["name"] == "churn"
    assert endpoint["routes"][0]["model"] == "models:/churn@champion"
    assert endpoint["routes"][0]["model_version"] == 1
    assert http.get(f"{server.url}/endpoints/churn").json()["batching"]["max_batch_size"] == 64


def test_mounted_inside_a_starlette_app(
    registered: Registered, serve: Callable[..., ServerHandle], http: httpx.Client
) -> None:
    from starlette.applications import Starlette
    from starlette.routing import Mount

    from loopwright.serving import build_app

    app = build_app("models:/churn@champion")
    server = serve(Starlette(routes=[Mount("/ml", app=app)]))
    rows = registered.X.iloc[:2]
    r = http.post(f"{server.url}/ml/endpoints/churn/predict", json={"instances": records(rows)})
    assert r.status_code == 200 and r.json()["predictions"] == registered.gbc.predict(rows).tolist()
    assert (
        'loopwright_requests_total{code="200",endpoint="churn"' in http.get(f"{server.url}/ml/metrics").text
    )
    app.close()
