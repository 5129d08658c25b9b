"""``/invocations`` answers as ``mlflow models serve`` does, payload for payload.

The same scikit-learn model, trained on the same data, is saved by MLflow 3.17.2 (``mlflow-skinny``,
in the dev extra) and served by ``mlflow models serve`` in a process of its own, and logged and served
by Loopwright. Every payload goes to both servers; status codes must be equal, bodies must have the
same shape (keys, ``predictions`` length and values) and errors MLflow's ``error_code`` and ``message``.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

import loopwright as lw
from cli_process import free_port
from conftest import FEATURES, training_data
from loopwright.serving import ServerHandle, run_in_thread

# the MLflow side of the model, trained as ours is (in a process of its own: importing MLflow here would
# configure its logging in the test process)
SAVE_WITH_MLFLOW = """
import sys
import mlflow.sklearn
import pandas as pd
from mlflow.models import infer_signature
from sklearn.linear_model import LogisticRegression

frame = pd.read_parquet(sys.argv[1])
X, y = frame.drop(columns="y"), frame["y"]
model = LogisticRegression().fit(X, y)
mlflow.sklearn.save_model(
    model,
    sys.argv[2],
    signature=infer_signature(X.head(5), model.predict(X.head(5))),
    input_example=X.head(5),
    pip_requirements=["scikit-learn"],  # inferring them imports the model in a subprocess (~1 min)
)
"""


@dataclass
class Pair:
    mlflow: str  # base URL of `mlflow models serve`
    ours: str  # base URL of Loopwright's server
    rows: pd.DataFrame  # three rows of the training data
    expected: list[int]  # our model's predictions for them


def wait_for_ping(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"mlflow models serve exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(f"{url}/ping", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"mlflow models serve did not answer /ping: {log.read_text()[-2000:]}")


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    """Both servers, once for the module: MLflow's in a process of its own, ours in this one."""
    X, y = training_data()
    work = tmp_path_factory.mktemp("parity")
    data = work / "train.parquet"
    X.assign(y=y).to_parquet(data)
    python = Path(sys.executable)
    env = {**os.environ, "PATH": f"{python.parent}{os.pathsep}{os.environ['PATH']}"}
    subprocess.run([str(python), "-c", SAVE_WITH_MLFLOW, str(data), str(work / "model")], env=env, check=True)
    port = free_port()
    log = work / "mlflow-serve.log"
    with log.open("wb") as out:
        serve = ["models", "serve", "-m", str(work / "model"), "--env-manager", "local", "-w", "1"]
        mlflow_server = subprocess.Popen(
            [str(python), "-m", "mlflow", *serve, "-h", "127.0.0.1", "-p", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LOOPWRIGHT_HOME", str(work / "home"))
        patch.delenv("LOOPWRIGHT_STORE_URI", raising=False)
        patch.delenv("LOOPWRIGHT_ARTIFACT_URI", raising=False)
        lw.reset_clients()
        model = LogisticRegression().fit(X, y)
        with lw.start_run(name="parity"):
            info = lw.log_model(model, "model", input_example=X.head(5))
        lw.set_alias("parity", "champion", lw.register_model(info.uri, "parity").version)
        ours: ServerHandle = run_in_thread("models:/parity@champion")
        try:
            url = f"http://127.0.0.1:{port}"
            wait_for_ping(url, mlflow_server, log)
            rows = X.head(3)
            yield Pair(url, ours.url, rows, model.predict(rows).tolist())
        finally:
            ours.stop()
            mlflow_server.terminate()
            mlflow_server.wait(timeout=30)
            lw.reset_clients()


ROWS = training_data()[0].head(3)
RECORDS: list[dict[str, Any]] = ROWS.to_dict("records")  # type: ignore[assignment]
COLUMNS = {c: ROWS[c].tolist() for c in FEATURES}
JSON = "application/json"
PARQUET = "application/vnd.apache.parquet"  # what MLflow 3 names Parquet


def parquet(frame: pd.DataFrame) -> bytes:
    out = io.BytesIO()
    frame.to_parquet(out)
    return out.getvalue()


# name: (body, content type, the status both servers answer, MLflow's error_code for a 400)
PAYLOADS: dict[str, tuple[Any, str, int, str | None]] = {
    "dataframe_split": ({"dataframe_split": ROWS.to_dict("split")}, JSON, 200, None),
    "dataframe_records": ({"dataframe_records": RECORDS}, JSON, 200, None),
    "instances records": ({"instances": RECORDS}, JSON, 200, None),
    "instances columns": ({"instances": COLUMNS}, JSON, 200, None),
    "inputs columns": ({"inputs": COLUMNS}, JSON, 200, None),
    "inputs records": ({"inputs": RECORDS}, JSON, 200, None),
    "csv": (ROWS.to_csv(index=False), "text/csv", 200, None),
    "csv with index column": (ROWS.to_csv(), "text/csv", 200, None),
    "parquet": (parquet(ROWS), PARQUET, 200, None),
    "parquet with an index": (parquet(ROWS.set_index(pd.Index([7, 8, 9], name="id"))), PARQUET, 200, None),
    "unknown field": ({"records": RECORDS}, JSON, 400, "BAD_REQUEST"),
    "two formats": ({"instances": RECORDS, "inputs": COLUMNS}, JSON, 400, "BAD_REQUEST"),
    "a list body": ([RECORDS], JSON, 400, "BAD_REQUEST"),
    "missing column": (
        {"dataframe_records": [{k: v for k, v in r.items() if k != "f4"} for r in RECORDS]},
        JSON,
        400,
        "INVALID_PARAMETER_VALUE",
    ),
    "csv missing column": (
        ROWS.drop(columns="f4").to_csv(index=False),
        "text/csv",
        400,
        "INVALID_PARAMETER_VALUE",
    ),
    "no rows": ({"dataframe_records": []}, JSON, 400, "INVALID_PARAMETER_VALUE"),
    "csv no rows": (ROWS.head(0).to_csv(index=False), "text/csv", 400, "BAD_REQUEST"),
    "parquet no rows": (parquet(ROWS.head(0)), PARQUET, 400, "BAD_REQUEST"),
    "csv no rows, a column missing": (
        ROWS.head(0).drop(columns="f4").to_csv(index=False),
        "text/csv",
        400,
        "INVALID_PARAMETER_VALUE",
    ),
    "string in a numeric column": (
        {"dataframe_records": [{**r, "f0": "abc"} for r in RECORDS]},
        JSON,
        400,
        "BAD_REQUEST",
    ),
    "csv string in a numeric column": (
        ROWS.assign(f0="abc").to_csv(index=False),
        "text/csv",
        400,
        "BAD_REQUEST",
    ),
    "null in a numeric column": (
        {"dataframe_records": [{**r, "f0": None} for r in RECORDS]},
        JSON,
        400,
        "BAD_REQUEST",
    ),
    "dataframe_split columns not a list": (
        {"dataframe_split": {"columns": 5, "data": [[1.0] * 5]}},
        JSON,
        400,
        "BAD_REQUEST",
    ),
    "malformed JSON": (b'{"dataframe_split": ', JSON, 400, "BAD_REQUEST"),
    "malformed CSV": (b'f0,f1\n1,2,3\n"', "text/csv", 400, "BAD_REQUEST"),
    "not Parquet": (b"not parquet", PARQUET, 400, "BAD_REQUEST"),
    "unsupported content type": (b"f0=1", "text/plain", 415, None),
}


def post(base: str, body: Any, content_type: str) -> httpx.Response:
    if isinstance(body, dict | list):
        body = json.dumps(body).encode()
    elif isinstance(body, str):
        body = body.encode()
    return httpx.post(f"{base}/invocations", content=body, headers={"Content-Type": content_type}, timeout=60)


@pytest.mark.parametrize("name", PAYLOADS)
def test_invocations_answer_as_mlflow_does(pair: Pair, name: str) -> None:
    body, content_type, status, error_code = PAYLOADS[name]
    theirs, ours = post(pair.mlflow, body, content_type), post(pair.ours, body, content_type)
    assert theirs.status_code == status, theirs.text  # the expectation is MLflow's own behaviour
    assert ours.status_code == status, ours.text
    if status == 200:
        assert set(ours.json()) == set(theirs.json()) == {"predictions"}
        predicted = ours.json()["predictions"]
        assert len(predicted) == len(theirs.json()["predictions"]) == len(pair.rows)
        assert np.allclose(predicted, theirs.json()["predictions"]) and predicted == pair.expected
    elif status == 400:
        # MLflow's error shape; ours adds the request id the access log carries
        assert {"error_code", "message"} <= set(theirs.json()) and {"error_code", "message"} <= set(
            ours.json()
        )
        assert theirs.json()["error_code"] == ours.json()["error_code"] == error_code
        assert ours.json()["request_id"] == ours.headers["x-request-id"]
        assert "Traceback" not in ours.text
    else:  # MLflow answers a 415 in plain text; ours is the one JSON error shape naming what to send
        assert "text/plain" in theirs.text and "text/plain" in ours.json()["message"]
        assert ours.json()["error_code"] == "UNSUPPORTED_MEDIA_TYPE"


def test_problems_are_named(pair: Pair) -> None:
    """The 400s name the culprit (MLflow's messages name the column or the format too)."""
    for name, fragment in (
        ("missing column", "'f4'"),
        ("csv missing column", "'f4'"),
        ("string in a numeric column", "'f0'"),
        ("null in a numeric column", "'f0'"),
        ("unknown field", "dataframe_split"),
        ("malformed JSON", "JSON"),
        ("malformed CSV", "CSV"),
        ("not Parquet", "Parquet"),
    ):
        body, content_type, _, _ = PAYLOADS[name]
        assert fragment in post(pair.ours, body, content_type).json()["message"], name


def test_parquet_under_its_other_names(pair: Pair) -> None:
    """``application/x-parquet`` (MLflow 3.17 answers it 415) scores as MLflow's Parquet type does."""
    reference = post(pair.mlflow, parquet(pair.rows), PARQUET).json()
    assert post(pair.mlflow, parquet(pair.rows), "application/x-parquet").status_code == 415
    for content_type in ("application/x-parquet", "application/parquet"):
        r = post(pair.ours, parquet(pair.rows), content_type)
        assert r.status_code == 200 and r.json() == reference, r.text


def test_deliberate_differences(pair: Pair) -> None:
    """Where MLflow guesses, ours names the problem: it scores rows with a column the signature lacks
    (dropping it: a misspelt optional feature would go unnoticed) and parses numbers sent as strings."""
    for row, culprit in (({**RECORDS[0], "plan": 1.0}, "'plan'"), ({**RECORDS[0], "f0": "1.5"}, "'f0'")):
        body = {"dataframe_records": [row]}
        assert post(pair.mlflow, body, JSON).status_code == 200
        r = post(pair.ours, body, JSON)
        assert r.status_code == 400 and culprit in r.json()["message"], r.text


def test_our_own_routes_keep_422(pair: Pair) -> None:
    bad = [{**RECORDS[0], "f0": "abc"}]
    r = httpx.post(f"{pair.ours}/endpoints/parity/predict", json={"instances": bad})
    assert r.status_code == 422 and r.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert "'f0'" in r.json()["error"]


def test_version_ping_and_health(pair: Pair) -> None:
    theirs, ours = httpx.get(f"{pair.mlflow}/version"), httpx.get(f"{pair.ours}/version")
    assert theirs.status_code == ours.status_code == 200
    # the bare version text, not a JSON string in quotes
    assert theirs.text == "3.17.2" and ours.text == lw.__version__
    for path in ("/ping", "/health"):
        theirs, ours = httpx.get(pair.mlflow + path), httpx.get(pair.ours + path)
        assert theirs.status_code == ours.status_code == 200
        assert theirs.text == ours.text == "\n"
