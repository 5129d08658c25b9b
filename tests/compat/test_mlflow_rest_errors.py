"""Bad MLflow requests get one MLflow-format error line with the right code and status, never a 500.

The platform server's app in this process (``create_app`` on a SQLite file, Starlette's test client):
each case is a request a buggy or foreign MLflow client could send.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from loopwright.server.app import create_app
from loopwright.server.config import ServerConfig

API = "/api/2.0/mlflow"
ARTIFACTS = "/api/2.0/mlflow-artifacts/artifacts"


@pytest.fixture(scope="module")
def http(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, str]]:
    home: Path = tmp_path_factory.mktemp("mlflow-errors")
    app = create_app(ServerConfig(f"sqlite:///{home}/lw.db", str(home / "artifacts")))
    with TestClient(app, raise_server_exceptions=False) as client:
        experiment = client.post(f"{API}/experiments/create", json={"name": "errors"}).json()["experiment_id"]
        run = client.post(f"{API}/runs/create", json={"experiment_id": experiment}).json()["run"]["info"]
        yield client, run["run_id"]


CASES: list[tuple[str, str, Any, int, str, str]] = [
    ("POST", "/experiments/create", {"name": "bad name!"}, 400, "INVALID_PARAMETER_VALUE", "bad name!"),
    ("POST", "/experiments/create", "not json", 400, "INVALID_PARAMETER_VALUE", "not JSON"),
    ("POST", "/experiments/create", {"name": "errors"}, 400, "RESOURCE_ALREADY_EXISTS", "errors"),
    ("GET", "/experiments/get", {"experiment_id": "nope"}, 404, "RESOURCE_DOES_NOT_EXIST", "nope"),
    ("POST", "/experiments/search", {"filter": "metrics.x > 1"}, 400, "INVALID_PARAMETER_VALUE", "metrics.x"),
    ("POST", "/runs/create", {"experiment_id": "{exp}", "tags": "x"}, 400, "INVALID_PARAMETER_VALUE", "tags"),
    ("POST", "/runs/update", {"run_id": "{run}", "status": "WEIRD"}, 400, "INVALID_PARAMETER_VALUE", "WEIRD"),
    ("POST", "/runs/search", {"filter": "metrics.x >"}, 400, "INVALID_PARAMETER_VALUE", "metrics.x >"),
    ("POST", "/runs/search", {"max_results": -5}, 400, "INVALID_PARAMETER_VALUE", "max_results"),
    ("POST", "/runs/log-metric", {"run_id": "{run}", "key": "x", "value": "abc"}, 400, "INVALID_PARAMETER_VALUE", "value"),
    ("POST", "/runs/log-metric", {"run_id": "nope", "key": "x", "value": 1}, 404, "RESOURCE_DOES_NOT_EXIST", "nope"),
    ("POST", "/runs/log-batch", {"run_id": "{run}", "metrics": [{"key": "a"}]}, 400, "INVALID_PARAMETER_VALUE", "value"),
    ("GET", "/runs/get", {}, 400, "INVALID_PARAMETER_VALUE", "'run_id'"),
    ("GET", "/logged-models/m-xyz", None, 404, "RESOURCE_DOES_NOT_EXIST", "m-xyz"),
    ("POST", "/registered-models/create", {"name": "m", "tags": [{"key": "a", "value": "b"}]}, 400,
     "INVALID_PARAMETER_VALUE", "first version"),
    ("GET", "/model-versions/get", {"name": "m", "version": "x"}, 400, "INVALID_PARAMETER_VALUE", "version"),
    ("POST", "/model-versions/create", {"name": "m", "source": "models:/m-zzz"}, 404, "RESOURCE_DOES_NOT_EXIST",
     "m-zzz"),
    ("DELETE", "/registered-models/delete", {"name": "m"}, 501, "NOT_IMPLEMENTED", "registered-models/delete"),
    ("POST", "/experiments/set-experiment-tag", {}, 404, "ENDPOINT_NOT_FOUND", "set-experiment-tag"),
]  # fmt: skip


@pytest.mark.parametrize(("method", "path", "body", "status", "code", "names"), CASES)
def test_errors_in_mlflow_format(
    http: tuple[TestClient, str], method: str, path: str, body: Any, status: int, code: str, names: str
) -> None:
    client, run_id = http
    experiment = client.get(f"{API}/runs/get", params={"run_id": run_id}).json()["run"]["info"][
        "experiment_id"
    ]
    if isinstance(body, dict):
        body = {k: v.format(run=run_id, exp=experiment) if isinstance(v, str) else v for k, v in body.items()}
    if method == "GET":
        answer = client.get(API + path, params=body)
    elif isinstance(body, str):
        answer = client.request(method, API + path, content=body)
    else:
        answer = client.request(method, API + path, json=body)
    assert (answer.status_code, answer.json()["error_code"]) == (status, code), answer.text
    assert names in answer.json()["message"] and "\n" not in answer.json()["message"]


def test_artifact_paths_stay_in_their_namespace(http: tuple[TestClient, str]) -> None:
    client, run_id = http
    assert client.put(f"{ARTIFACTS}/runs/{run_id}/ok.txt", content=b"ok").status_code == 200
    escape = client.get(ARTIFACTS, params={"path": f"runs/{run_id}/../other"})
    assert escape.status_code == 400 and "'..'" in escape.json()["message"]
    upload = client.put(f"{ARTIFACTS}/models/m/versions/1/x", content=b"x")
    assert upload.status_code == 400 and upload.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert client.delete(f"{ARTIFACTS}/runs/{run_id}/ok.txt").json()["error_code"] == "NOT_IMPLEMENTED"
    assert client.get(f"{ARTIFACTS}/runs/{run_id}/ok.txt").content == b"ok"


def test_mlflow_3_paths_are_named_too(http: tuple[TestClient, str]) -> None:
    answer = http[0].get("/api/3.0/mlflow/server-info")
    assert answer.status_code == 404 and answer.json()["error_code"] == "ENDPOINT_NOT_FOUND"
    assert "/api/3.0/mlflow/server-info" in answer.json()["message"]


def test_non_finite_metrics_travel_as_protobuf_json(http: tuple[TestClient, str]) -> None:
    client, run_id = http
    for value in ("NaN", "Infinity"):
        logged = client.post(f"{API}/runs/log-metric", json={"run_id": run_id, "key": value, "value": value})
        assert logged.status_code == 200, logged.text
    history = client.get(f"{API}/metrics/get-history", params={"run_id": run_id, "metric_key": "NaN"}).json()
    assert [m["value"] for m in history["metrics"]] == ["NaN"]
    metrics = client.get(f"{API}/runs/get", params={"run_id": run_id}).json()["run"]["data"]["metrics"]
    assert {m["key"]: m["value"] for m in metrics} == {"NaN": "NaN", "Infinity": "Infinity"}
