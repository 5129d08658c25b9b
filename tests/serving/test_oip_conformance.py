"""Open Inference Protocol v2 conformance (issue 12, item 3): named outputs, datatype and shape checks,
response ``parameters``, the binary tensor data extension both ways, the extension list, HEAD on the
health routes and a non-200 model-ready while shutting down. Raw requests follow the KServe v2 REST
spec; tritonclient is an unmodified OIP client."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import numpy as np
import orjson
import tritonclient.http as triton

from conftest import FEATURES, Registered
from loopwright.serving import ServerHandle
from loopwright.serving.app import ServingApp


def _columns(rows: Any, datatype: str = "FP64") -> list[dict[str, Any]]:
    return [
        {"name": f, "shape": [len(rows)], "datatype": datatype, "data": rows[f].tolist()} for f in FEATURES
    ]


def _refused(r: httpx.Response, *fragments: str) -> None:
    assert r.status_code == 400, r.text
    assert all(f in r.json()["error"] for f in fragments), r.text


def test_named_outputs_and_parameters(
    registered: Registered, serve: Callable[..., ServerHandle], http: httpx.Client
) -> None:
    server = serve("models:/churn@champion")
    url = f"{server.url}/v2/models/churn/infer"
    rows = registered.X.iloc[:4]
    proba = registered.gbc.predict_proba(rows)

    r = http.post(url, json={"inputs": _columns(rows), "outputs": [{"name": "predict_proba"}]})
    assert r.status_code == 200, r.text
    body = r.json()
    assert isinstance(body["parameters"], dict)
    (out,) = body["outputs"]
    assert (out["name"], out["datatype"], out["shape"]) == ("predict_proba", "FP64", [4, 2])
    assert np.allclose(np.array(out["data"]).reshape(4, 2), proba)

    both = {"inputs": _columns(rows), "outputs": [{"name": "predict"}, {"name": "predict_proba"}]}
    outputs = http.post(url, json=both).json()["outputs"]
    assert [o["name"] for o in outputs] == ["predict", "predict_proba"]
    assert outputs[0]["data"] == registered.gbc.predict(rows).tolist()
    _refused(http.post(url, json={"inputs": _columns(rows), "outputs": [{"name": "nope"}]}), "'nope'")

    meta = http.get(f"{server.url}/v2/models/churn").json()
    assert {"name": "predict_proba", "datatype": "FP64", "shape": [-1, 2]} in meta["outputs"]

    client = triton.InferenceServerClient(url=server.url.removeprefix("http://"))
    inputs = []
    for f in FEATURES:
        tensor = triton.InferInput(f, [4], "FP64")
        tensor.set_data_from_numpy(rows[f].to_numpy(), binary_data=True)
        inputs.append(tensor)
    result = client.infer(
        "churn", inputs, outputs=[triton.InferRequestedOutput("predict_proba", binary_data=True)]
    )
    assert result.as_numpy("predict") is None  # only what was asked comes back
    assert np.allclose(result.as_numpy("predict_proba"), proba)
    result = client.infer(
        "churn", inputs, outputs=[triton.InferRequestedOutput("predict", binary_data=False)]
    )
    assert result.as_numpy("predict").tolist() == registered.gbc.predict(rows).tolist()
    client.close()


def test_declared_datatype_and_shape_are_checked(
    registered: Registered, serve: Callable[..., ServerHandle], http: httpx.Client
) -> None:
    server = serve("models:/churn@champion")
    url = f"{server.url}/v2/models/churn/infer"
    rows = registered.X.iloc[:2]

    def with_f0(**change: Any) -> dict[str, Any]:
        inputs = _columns(rows)
        inputs[0] = {**inputs[0], **change}
        return {"inputs": inputs}

    _refused(http.post(url, json=with_f0(datatype="BYTES", data=["a", "b"])), "'f0'", "BYTES")
    _refused(http.post(url, json=with_f0(datatype="BYTES")), "'f0'", "BYTES")
    _refused(http.post(url, json=with_f0(datatype="FOO")), "'f0'", "'FOO'")
    _refused(http.post(url, json=with_f0(datatype="INT64", data=[1.5, 2.0])), "'f0'", "INT64")
    _refused(http.post(url, json=with_f0(datatype="INT8", data=[1, 300])), "'f0'", "INT8")
    _refused(http.post(url, json=with_f0(shape=[3])), "'f0'", "[3]")
    _refused(http.post(url, json=with_f0(shape=[1, 2])), "'f0'", "[1, 2]")
    no_type = with_f0()
    del no_type["inputs"][0]["datatype"]
    _refused(http.post(url, json=no_type), "'f0'", "datatype")
    no_shape = with_f0()
    del no_shape["inputs"][0]["shape"]
    _refused(http.post(url, json=no_shape), "'f0'", "shape")
    matrix = {
        "inputs": [
            {"name": "x", "shape": [2, 4], "datatype": "FP64", "data": rows.to_numpy().ravel().tolist()}
        ]
    }
    _refused(http.post(url, json=matrix), "'x'", "[2, 4]")
    _refused(
        http.post(
            url, json={**with_f0(), "outputs": [{"name": "predict", "parameters": {"binary_data": 1}}]}
        ),
        "binary_data",
    )
    # whole INT64 values into a float column are numbers like any other
    r = http.post(url, json=with_f0(datatype="INT64", data=[1, 0]))
    assert r.status_code == 200, r.text


def test_binary_output_and_extensions(
    registered: Registered, serve: Callable[..., ServerHandle], http: httpx.Client
) -> None:
    server = serve("models:/churn@champion")
    assert "binary_tensor_data" in http.get(f"{server.url}/v2").json()["extensions"]
    url = f"{server.url}/v2/models/churn/infer"
    rows = registered.X.iloc[:3]
    expected = registered.gbc.predict(rows)
    for request in (
        {"inputs": _columns(rows), "outputs": [{"name": "predict", "parameters": {"binary_data": True}}]},
        {"inputs": _columns(rows), "parameters": {"binary_data_output": True}},
    ):
        r = http.post(url, json=request)
        assert r.status_code == 200, r.text
        length = int(r.headers["inference-header-content-length"])
        header = orjson.loads(r.content[:length])
        (out,) = header["outputs"]
        assert "data" not in out and out["parameters"]["binary_data_size"] == 8 * len(rows)
        assert (out["datatype"], out["shape"]) == ("INT64", [3])
        assert np.frombuffer(r.content[length:], "<i8").tolist() == expected.tolist()
    # JSON unless asked
    assert "inference-header-content-length" not in http.post(url, json={"inputs": _columns(rows)}).headers


def test_health_routes_answer_head(
    registered: Registered, serve: Callable[..., ServerHandle], http: httpx.Client
) -> None:
    server = serve("models:/churn@champion")
    for path in (
        "/v2/health/live",
        "/v2/health/ready",
        "/v2/models/churn/ready",
        "/v2/models/churn/versions/1/ready",
    ):
        r = http.head(f"{server.url}{path}")
        assert r.status_code == 200 and r.content == b"", path
    assert http.head(f"{server.url}/v2/models/nope/ready").status_code == 404


def test_not_ready_is_503_while_shutting_down(registered: Registered) -> None:
    app = ServingApp("models:/churn@champion", log_predictions=False)

    async def probe() -> list[int]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://lw") as client:
            before = (await client.get("/v2/models/churn/ready")).status_code
            await asyncio.to_thread(app.close)
            return [before] + [
                (await client.get(path)).status_code
                for path in (
                    "/v2/models/churn/ready",
                    "/v2/models/churn/versions/1/ready",
                    "/v2/health/ready",
                )
            ]

    assert asyncio.run(probe()) == [200, 503, 503, 503]
