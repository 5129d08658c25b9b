"""Malformed and out-of-range requests: a 4xx that names the problem and one log line, never a 500."""

from __future__ import annotations

import logging
import struct
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import orjson
import pandas as pd
import pytest
from serving_models import Echo

import loopwright as lw
from conftest import FEATURES, Registered
from loopwright.serving import ServerHandle

INT64_RANGE = "[-9223372036854775808, 9223372036854775807]"


def _refused(r: httpx.Response, status: int = 422) -> str:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["request_id"] == r.headers["x-request-id"] and body["error"] == body["message"]
    return str(body["error"])


def binary_infer(header: Any, tensors: bytes = b"") -> tuple[bytes, dict[str, str]]:
    """A body of Triton's binary tensor extension: the JSON header, then the raw tensor bytes."""
    head = header if isinstance(header, bytes) else orjson.dumps(header)
    return head + tensors, {
        "Inference-Header-Content-Length": str(len(head)),
        "Content-Type": "application/octet-stream",
    }


def fp64_binary(values: list[list[float]]) -> tuple[bytes, dict[str, str]]:
    """One binary FP64 input per churn feature; ``values[i]`` are the rows of feature i."""
    inputs, raw = [], b""
    for name, column in zip(FEATURES, values, strict=True):
        chunk = struct.pack(f"<{len(column)}d", *column)
        inputs.append(
            {
                "name": name,
                "shape": [len(column)],
                "datatype": "FP64",
                "parameters": {"binary_data_size": len(chunk)},
            }
        )
        raw += chunk
    return binary_infer({"inputs": inputs}, raw)


def _serving_errors(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """Records with a traceback, or above INFO, from the serving app (what a bad request must not log)."""
    return [
        rec
        for rec in caplog.records
        if rec.name.startswith(("loopwright", "uvicorn")) and (rec.exc_info or rec.levelno > logging.INFO)
    ]


def _access_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [rec for rec in caplog.records if rec.name == "loopwright.serving.access"]


def test_malformed_bodies_are_4xx_naming_the_problem(
    registered: Registered,
    serve: Callable[..., ServerHandle],
    http: httpx.Client,
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = serve("models:/churn@champion")
    infer = f"{server.url}/v2/models/churn/infer"
    column = {"shape": [1], "datatype": "FP64", "data": [1.0]}
    good_binary = {"name": "f0", "shape": [1], "datatype": "FP64", "parameters": {"binary_data_size": 8}}
    cases: list[tuple[str, dict[str, Any], str]] = [
        (
            f"{server.url}/invocations",
            {"json": {"dataframe_split": {"columns": 5, "data": [[1, 2, 3, 4, 5]]}}},
            "dataframe_split.columns",
        ),
        (infer, {"json": {"inputs": [{"name": [1], **column}]}}, "name"),
        # found by the fuzz test: an unhashable datatype reached a set lookup
        (infer, {"json": {"inputs": [{"name": "f0", "shape": [0], "datatype": [], "data": []}]}}, "datatype"),
        (infer, {"json": {"inputs": [{"name": "f0", **column, "datatype": {"a": 1}}]}}, "datatype"),
        (
            infer,
            {"json": {"inputs": [{"name": f, **column, "data": [[1], 2]} for f in FEATURES]}},
            "'f0'",
        ),
        (infer, dict(zip(("content", "headers"), binary_infer({"inputs": 5}), strict=True)), "inputs"),
        (infer, dict(zip(("content", "headers"), binary_infer([1, 2]), strict=True)), "object"),
        (
            infer,
            dict(
                zip(
                    ("content", "headers"),
                    binary_infer({"inputs": [{**good_binary, "parameters": 5}]}, b"\0" * 8),
                    strict=True,
                )
            ),
            "parameters",
        ),
        (
            infer,
            dict(
                zip(
                    ("content", "headers"),
                    binary_infer(
                        {"inputs": [{**good_binary, "parameters": {"binary_data_size": True}}]}, b"\0" * 8
                    ),
                    strict=True,
                )
            ),
            "binary_data_size",
        ),
        (
            infer,
            dict(
                zip(
                    ("content", "headers"),
                    binary_infer(
                        {"inputs": [{**good_binary, "parameters": {"binary_data_size": 3}}]}, b"\0" * 8
                    ),
                    strict=True,
                )
            ),
            "binary_data_size",
        ),
        (
            infer,
            dict(zip(("content", "headers"), fp64_binary([[float("nan")]] + [[0.0]] * 4), strict=True)),
            "'f0'",
        ),
        (
            infer,
            dict(
                zip(("content", "headers"), fp64_binary([[0.0], [float("inf")]] + [[0.0]] * 3), strict=True)
            ),
            "'f1'",
        ),
        (
            f"{server.url}/endpoints/churn/predict",
            {"json": {"instances": [[1.0, 2.0, 3.0, 4.0, 5.0], 7]}},
            "row 1",
        ),
        # a float64 the signature allows but the tree model's float32 input check refuses
        (
            f"{server.url}/endpoints/churn/predict",
            {"json": {"instances": [[0.0, 0.0, 0.0, 0.0, 3.5e38]]}},
            "float32",
        ),
    ]
    wrong = []
    with caplog.at_level(logging.INFO, logger="loopwright.serving.access"):
        for url, request, fragment in cases:
            r = http.post(url, **request)
            if not (400 <= r.status_code < 500 and fragment in _refused(r, r.status_code)):
                wrong.append((request, r.status_code, r.text))
        # the access line is written just after the answer is sent
        deadline = time.monotonic() + 10
        while len(_access_lines(caplog)) < len(cases) and time.monotonic() < deadline:
            time.sleep(0.01)
    assert wrong == []
    assert _serving_errors(caplog) == []
    assert len(_access_lines(caplog)) == len(cases)  # one line per refused request, no traceback
    # a well-formed binary request with finite values is still answered
    body, headers = fp64_binary([[v] for v in registered.X.iloc[0]])
    r = http.post(infer, content=body, headers=headers)
    assert r.status_code == 200, r.text
    assert r.json()["outputs"][0]["data"] == registered.gbc.predict(registered.X.iloc[:1]).tolist()


def _echo_server(
    serve: Callable[..., ServerHandle], name: str, example: pd.DataFrame
) -> tuple[ServerHandle, str]:
    with lw.start_run():
        info = lw.log_model(Echo(), "model", input_example=example)
    lw.register_model(info.uri, name)
    server = serve(f"models:/{name}/1")
    return server, f"{server.url}/endpoints/{name}/predict"


@pytest.mark.parametrize(
    "example",
    [
        pd.DataFrame({"n": [1, 2]}),  # all-int signature: one int64 array
        pd.DataFrame({"n": [1, 2], "x": [0.5, 1.5]}),  # numeric: one float64 array with an int column
        pd.DataFrame({"n": [1, 2], "plan": ["a", "b"]}),  # mixed: a DataFrame through Signature.validate
    ],
    ids=["int-array", "float-array", "dataframe"],
)
def test_out_of_range_integers_are_422_naming_column_and_range(
    sqlite_env: Path, serve: Callable[..., ServerHandle], http: httpx.Client, example: pd.DataFrame
) -> None:
    server, url = _echo_server(serve, "echo", example)
    row = example.iloc[0].to_dict()
    for value in (1e300, 2**63, 2**64, -(2**63) - 1, -1e300):
        r = http.post(url, json={"instances": [{**row, "n": value}]})
        message = _refused(r)
        assert "'n'" in message and INT64_RANGE in message, (value, message)
    message = _refused(http.post(url, json={"instances": [{**row, "n": 2.5}]}))
    assert "'n'" in message and "int64" in message
    # in-range values reach the model exactly where the array can hold them
    extremes = [2**62, -(2**62)] if "x" in example else [2**63 - 1, -(2**63)]
    r = http.post(url, json={"instances": [{**row, "n": v} for v in extremes]})
    assert r.status_code == 200, r.text
    assert r.json()["predictions"] == extremes
    # the /invocations and OIP paths refuse the same way
    r = http.post(f"{server.url}/invocations", json={"dataframe_records": [{**row, "n": 2**63}]})
    assert INT64_RANGE in _refused(r, 400)  # MLflow's status for input errors on its route
    oip = {
        "inputs": [
            {"name": c, "shape": [1], "datatype": "BYTES" if c == "plan" else "FP64", "data": [row[c]]}
            for c in row
        ]
    }
    oip["inputs"][0]["data"] = [1e300]
    assert INT64_RANGE in _refused(http.post(f"{server.url}/v2/models/echo/infer", json=oip))


def test_tensor_signature_checks_range_and_finiteness(
    sqlite_env: Path, serve: Callable[..., ServerHandle], http: httpx.Client
) -> None:
    """A tensor model's input goes through its signature too (the cast used to wrap and let NaN in)."""
    with lw.start_run():
        info = lw.log_model(Echo(), "model", input_example=np.array([[1, 2]], dtype="int32"))
    lw.register_model(info.uri, "ints")
    server = serve("models:/ints/1")
    url = f"{server.url}/v2/models/ints/infer"

    def infer(data: list[Any], datatype: str = "INT64") -> httpx.Response:
        return http.post(
            url, json={"inputs": [{"name": "input", "shape": [1, 2], "datatype": datatype, "data": data}]}
        )

    assert "[-2147483648, 2147483647], got 1099511627776" in _refused(infer([2**40, 1]))
    assert "fractions" in _refused(infer([1.5, 1], "FP64"))
    r = infer([2**31 - 1, -(2**31)])
    assert r.status_code == 200, r.text
    assert r.json()["outputs"][0]["data"] == [2**31 - 1]
    chunk = struct.pack("<2d", float("nan"), 1.0)
    header = {
        "inputs": [
            {"name": "input", "shape": [1, 2], "datatype": "FP64", "parameters": {"binary_data_size": 16}}
        ]
    }
    body, headers = binary_infer(header, chunk)
    assert "NaN" in _refused(http.post(url, content=body, headers=headers))
