"""Bad input and failing models: every error has its status code, a message, and a request id."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import httpx
import pandas as pd
from serving_models import POISON, Fragile

import loopwright as lw
from conftest import FEATURES, Registered, records
from loopwright.serving import ServerHandle


def _error(r: httpx.Response, status: int) -> str:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["request_id"] == r.headers["x-request-id"]
    assert body["error"] == body["message"]
    return str(body["error"])


def test_error_codes(registered: Registered, serve: Callable[..., ServerHandle], http: httpx.Client) -> None:
    server = serve("models:/churn@champion", max_body_bytes=2048)
    url = f"{server.url}/endpoints/churn/predict"
    good = records(registered.X.iloc[:1])

    assert "malformed JSON" in _error(
        http.post(url, content=b'{"instances": [', headers={"Content-Type": "application/json"}), 400
    )
    assert "text/plain" in _error(
        http.post(url, content=b"f0=1", headers={"Content-Type": "text/plain"}), 415
    )

    big = {"instances": good * 100}
    assert "limit" in _error(http.post(url, json=big), 413)

    def chunks():  # no Content-Length: the limit applies while reading
        for _ in range(10):
            yield b" " * 1024

    assert "limit" in _error(
        http.post(url, content=chunks(), headers={"Content-Type": "application/json"}), 413
    )

    wrong_type = [{**good[0], "f3": "high"}]
    message = _error(http.post(url, json={"instances": wrong_type}), 422)
    assert "'f3'" in message and "float64" in message

    missing = [{k: v for k, v in good[0].items() if k != "f2"}]
    message = _error(http.post(url, json={"instances": missing}), 422)
    assert "'f2'" in message and "float64" in message

    message = _error(http.post(url, json={"instances": [{**good[0], "f0": None}]}), 422)
    assert "'f0'" in message and "null" in message

    assert "instances" in _error(http.post(url, json={"rows": good}), 422)
    assert "nope" in _error(http.post(f"{server.url}/endpoints/nope/predict", json={"instances": good}), 404)
    assert "nope" in _error(http.post(f"{server.url}/v2/models/nope/infer", json={"inputs": []}), 404)
    _error(http.get(f"{server.url}/v2/models/nope"), 404)
    _error(http.get(f"{server.url}/no/such/route"), 404)
    _error(http.get(url), 405)

    oip = {"inputs": [{"name": f, "shape": [1], "datatype": "FP64", "data": [1.0]} for f in FEATURES[:-1]]}
    message = _error(http.post(f"{server.url}/v2/models/churn/infer", json=oip), 422)
    assert "'f4'" in message and "FP64" in message

    # after all that, the server still answers
    assert http.post(url, json={"instances": good}).status_code == 200


def test_model_that_raises_gives_500_without_internals_and_server_keeps_serving(
    sqlite_env: Path, tmp_path: Path, serve: Callable[..., ServerHandle], http: httpx.Client
) -> None:
    limits = tmp_path / "limits.json"
    limits.write_text(json.dumps({"poison": POISON}))
    example = pd.DataFrame([[1.0, 2.0, 3.0]], columns=["f0", "f1", "f2"])
    with lw.start_run():
        info = lw.log_model(Fragile(str(limits)), "model", input_example=example)
    lw.register_model(info.uri, "fragile")
    server = serve("models:/fragile/1")
    url = f"{server.url}/endpoints/fragile/predict"

    r = http.post(url, json={"instances": [{"f0": POISON + 1, "f1": 0.0, "f2": 0.0}]})
    message = _error(r, 500)
    assert "secret" not in r.text and "Traceback" not in r.text and "RuntimeError" not in r.text
    assert r.json()["request_id"] in message
    assert r.headers["x-model-version"] == "1"

    r = http.post(url, json={"instances": [{"f0": 1.0, "f1": 2.0, "f2": 3.0}]})
    assert r.status_code == 200 and r.json()["predictions"] == [6.0]
