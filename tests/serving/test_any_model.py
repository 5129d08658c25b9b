"""Any logged model serves (issue 12, item 2): a pyfunc, a model with several outputs and one with string
columns answer over OIP v2, MLflow ``/invocations`` and ``/endpoints/NAME/predict`` exactly what
``lw.load_model(uri).predict(frame)`` answers, because serving hands each flavor the input type its local
``predict`` gets."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
import tritonclient.http as triton
from serving_models import ColumnSum, PlanPrice, TwoOutputs

import loopwright as lw
from loopwright.serving import ServerHandle

NUMBERS = pd.DataFrame({"a": [1.5, -2.0, 0.25], "b": [0.5, 1.0, -3.0]})
PLANS = pd.DataFrame({"plan": ["basic", "pro", "pro"], "seats": [3, 1, 4]})


def _register(model: Any, name: str, example: pd.DataFrame) -> str:
    with lw.start_run():
        info = lw.log_model(model, "model", input_example=example)
    lw.register_model(info.uri, name)
    return f"models:/{name}/1"


def _oip_inputs(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [
        {
            "name": c,
            "shape": [len(frame)],
            "datatype": "INT64"
            if frame[c].dtype.kind == "i"
            else "FP64"
            if frame[c].dtype.kind == "f"
            else "BYTES",
            "data": frame[c].tolist(),
        }
        for c in frame.columns
    ]


def _three_protocols(http: httpx.Client, url: str, name: str, frame: pd.DataFrame) -> dict[str, Any]:
    records = frame.to_dict("records")
    answers = {
        "predict": http.post(f"{url}/endpoints/{name}/predict", json={"instances": records}),
        "invocations": http.post(
            f"{url}/invocations",
            json={"dataframe_split": {"columns": list(frame.columns), "data": frame.to_numpy().tolist()}},
        ),
        "oip": http.post(f"{url}/v2/models/{name}/infer", json={"inputs": _oip_inputs(frame)}),
    }
    for protocol, r in answers.items():
        assert r.status_code == 200, (protocol, r.text)
    return {protocol: r.json() for protocol, r in answers.items()}


@pytest.mark.parametrize(
    ("model", "frame"),
    [(ColumnSum(), NUMBERS), (PlanPrice(), PLANS)],
    ids=["pyfunc-numeric", "string-columns"],
)
def test_single_output_models_answer_what_local_predict_answers(
    sqlite_env: Path, serve: Callable[..., ServerHandle], http: httpx.Client, model: Any, frame: pd.DataFrame
) -> None:
    uri = _register(model, "m", frame.head(2))
    expected = lw.load_model(uri).predict(frame).tolist()
    server = serve(uri)
    answers = _three_protocols(http, server.url, "m", frame)
    assert answers["predict"]["predictions"] == expected
    assert answers["invocations"]["predictions"] == expected
    (out,) = answers["oip"]["outputs"]
    assert out["name"] == "predict" and out["shape"] == [len(frame)] and out["data"] == expected

    client = triton.InferenceServerClient(url=server.url.removeprefix("http://"))
    inputs = []
    for spec in _oip_inputs(frame):
        tensor = triton.InferInput(spec["name"], spec["shape"], spec["datatype"])
        values = np.array(spec["data"], dtype=object if spec["datatype"] == "BYTES" else None)
        tensor.set_data_from_numpy(values, binary_data=True)
        inputs.append(tensor)
    result = client.infer("m", inputs, outputs=[triton.InferRequestedOutput("predict", binary_data=True)])
    assert result.as_numpy("predict").tolist() == expected
    client.close()


def test_multi_output_model_answers_every_output(
    sqlite_env: Path, serve: Callable[..., ServerHandle], http: httpx.Client
) -> None:
    uri = _register(TwoOutputs(), "multi", NUMBERS.head(2))
    expected = lw.load_model(uri).predict(NUMBERS)
    assert list(expected.columns) == ["total", "label"]
    server = serve(uri)
    answers = _three_protocols(http, server.url, "multi", NUMBERS)
    records = expected.to_dict("records")
    assert answers["predict"]["predictions"] == records
    assert answers["invocations"]["predictions"] == records
    outputs = {o["name"]: o for o in answers["oip"]["outputs"]}
    assert set(outputs) == {"total", "label"}
    assert outputs["total"]["datatype"] == "FP64" and outputs["total"]["data"] == expected["total"].tolist()
    assert outputs["label"]["datatype"] == "BYTES" and outputs["label"]["data"] == expected["label"].tolist()
    assert all(o["shape"] == [len(NUMBERS)] for o in outputs.values())

    # asking for one output by name returns just that one, over JSON and binary
    only = {"inputs": _oip_inputs(NUMBERS), "outputs": [{"name": "label"}]}
    r = http.post(f"{server.url}/v2/models/multi/infer", json=only)
    assert [o["name"] for o in r.json()["outputs"]] == ["label"]
    client = triton.InferenceServerClient(url=server.url.removeprefix("http://"))
    inputs = []
    for spec in _oip_inputs(NUMBERS):
        tensor = triton.InferInput(spec["name"], spec["shape"], spec["datatype"])
        tensor.set_data_from_numpy(np.array(spec["data"]), binary_data=True)
        inputs.append(tensor)
    result = client.infer("multi", inputs)  # no outputs named: every output, binary
    assert result.as_numpy("total").tolist() == expected["total"].tolist()
    assert [v.decode() for v in result.as_numpy("label").tolist()] == expected["label"].tolist()
    client.close()
