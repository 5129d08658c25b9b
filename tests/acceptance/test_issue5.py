"""Issue 5 as a new user runs it: `loopwright serve`, the deployment YAML, the three protocols,
every error code, token auth, /metrics, the prediction log with feedback, and `since=` forms.

The model is the README's churn classifier on an int and a float column, registered in a fresh
SQLite store; servers listen on free 127.0.0.1 ports and are driven over HTTP.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import numpy as np
import orjson
import pandas as pd
import pytest
import yaml
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.linear_model import LogisticRegression

import loopwright as lw
from cli_process import free_port, wait_ready
from loopwright.serving import run_in_thread

CLI = [sys.executable, "-m", "loopwright.cli"]
ROW = {"tenure": 3, "monthly": 49.0}
ISSUE_YAML = """\
endpoints:
  churn:
    routes:
      - model: models:/churn@champion   # weight 90
        weight: 90
      - model: models:/churn@challenger
        weight: 10
    shadow: models:/churn/7             # gets a copy of every request; its answers are logged, never returned
    batching: {max_batch_size: 64, max_latency_ms: 5}
"""


def _data(n: int = 300) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"tenure": rng.integers(0, 60, n).astype("int64"), "monthly": rng.normal(50, 10, n)})
    return X, (X.tenure < 12).astype(int)


def _register(versions: int) -> pd.DataFrame:
    """``versions`` versions of ``churn`` (champion = 1, challenger = 2); returns the features."""
    X, y = _data()
    for i in range(versions):
        model = (
            GradientBoostingClassifier(n_estimators=10, random_state=i) if i == 0 else LogisticRegression()
        )
        with lw.start_run():
            info = lw.log_model(model.fit(X, y), "model", input_example=X.head(3))
        lw.register_model(info.uri, "churn")
    lw.set_alias("churn", "champion", 1)
    if versions > 1:
        lw.set_alias("churn", "challenger", 2)
    return X


@pytest.fixture
def cli_server(sqlite_env: Path) -> Iterator[str]:
    """`loopwright serve models:/churn@champion --host 127.0.0.1 --port P --workers 2 --token s3cret`."""
    _register(2)
    with _serve_cli("--token", "s3cret") as url:
        yield url


@contextlib.contextmanager
def _serve_cli(*options: str) -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen(
        [
            *CLI,
            "serve",
            "models:/churn@champion",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "2",
            *options,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=os.environ.copy(),
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, proc)
        yield url
    finally:
        proc.terminate()
        proc.communicate(timeout=60)


def _error(r: httpx.Response, status: int, *fragments: str) -> None:
    """An error answer: the status, a message naming ``fragments``, the request id, no traceback."""
    assert r.status_code == status, r.text
    body = r.json()
    assert body["request_id"] == r.headers["x-request-id"]
    for fragment in fragments:
        assert fragment in body["error"], (fragment, body["error"])
    assert "Traceback" not in r.text


def test_cli_serve_protocols_errors_and_token(cli_server: str) -> None:
    url = cli_server
    auth = {"Authorization": "Bearer s3cret"}
    with httpx.Client(base_url=url, headers=auth, timeout=30) as http:
        # /endpoints/{name}/predict: predictions, the version that answered, a request id
        r = http.post("/endpoints/churn/predict", json={"instances": [ROW, {"tenure": 40, "monthly": 80.5}]})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["predictions"] == [1, 0] and body["model_version"] == 1 and body["request_id"]
        assert r.headers["x-model-version"] == "1" and r.headers["x-request-id"] == body["request_id"]

        # OIP v2: the model name is the registered model's name
        assert http.get("/v2/health/live").status_code == 200
        assert http.get("/v2/models/churn/ready").json()["ready"] is True
        meta = http.get("/v2/models/churn").json()
        assert meta["name"] == "churn"
        assert [(i["name"], i["datatype"]) for i in meta["inputs"]] == [
            ("tenure", "INT64"),
            ("monthly", "FP64"),
        ]
        oip = {
            "inputs": [
                {"name": "tenure", "shape": [1], "datatype": "INT64", "data": [3]},
                {"name": "monthly", "shape": [1], "datatype": "FP64", "data": [49.0]},
            ]
        }
        for path in ("/v2/models/churn/infer", "/v2/models/churn/versions/1/infer"):
            r = http.post(path, json=oip)
            assert r.status_code == 200, r.text
            answer = r.json()
            assert answer["model_name"] == "churn" and answer["model_version"] == "1"
            assert answer["outputs"][0]["data"] == [1] and r.headers["x-model-version"] == "1"

        # MLflow scoring server: the four JSON formats and /ping
        assert http.get("/ping").status_code == 200
        for doc in (
            {"dataframe_split": {"columns": ["tenure", "monthly"], "data": [[3, 49.0]]}},
            {"dataframe_records": [ROW]},
            {"instances": [ROW]},
            {"inputs": {"tenure": [3], "monthly": [49.0]}},
        ):
            r = http.post("/invocations", json=doc)
            assert r.status_code == 200 and r.json() == {"predictions": [1]}, (doc, r.text)
            assert r.headers["x-model-version"] == "1"

        # 400 malformed JSON
        bad_json = {"Content-Type": "application/json"}
        _error(
            http.post("/endpoints/churn/predict", content=b'{"instances": [', headers=bad_json), 400, "JSON"
        )
        # 413 above the default 10 MiB
        huge = b'{"instances": [' + b" " * (10 * 1024 * 1024 + 1) + b"]}"
        _error(http.post("/endpoints/churn/predict", content=huge, headers=bad_json), 413, "limit")
        # 415 wrong content type, and a compressed body the server does not decode
        text = {"Content-Type": "text/plain"}
        _error(
            http.post("/endpoints/churn/predict", content=orjson.dumps({"instances": [ROW]}), headers=text),
            415,
        )
        zipped = gzip.compress(orjson.dumps({"instances": [ROW]}))
        for path in ("/endpoints/churn/predict", "/invocations", "/v2/models/churn/infer"):
            r = http.post(path, content=zipped, headers={**bad_json, "Content-Encoding": "gzip"})
            _error(r, 415, "gzip")
        # 422 naming the field and the expected type
        r = http.post("/endpoints/churn/predict", json={"instances": [{"tenure": "long", "monthly": 49.0}]})
        _error(r, 422, "'tenure'", "int64")
        for tenure in (3.5, 2**70):  # a fraction, and a whole number out of int64's range
            r = http.post(
                "/endpoints/churn/predict", json={"instances": [{"tenure": tenure, "monthly": 49.0}]}
            )
            _error(r, 422, "'tenure'", "int64")
        r = http.post(
            "/v2/models/churn/infer",
            json={"inputs": [{"name": "x", "shape": [1, 2], "datatype": "FP64", "data": [3.5, 49.0]}]},
        )
        _error(r, 422, "'tenure'", "int64")
        _error(
            http.post("/endpoints/churn/predict", json={"instances": [{"tenure": 3}]}),
            422,
            "'monthly'",
            "float64",
        )
        # 422 for a field the signature does not have, on every protocol
        extra = {**ROW, "plan": "basic"}
        _error(http.post("/endpoints/churn/predict", json={"instances": [extra]}), 422, "'plan'")
        for doc in (
            {"dataframe_records": [extra]},
            {"instances": [extra]},
            {"dataframe_split": {"columns": ["tenure", "monthly", "plan"], "data": [[3, 49.0, "basic"]]}},
            {"inputs": {"tenure": [3], "monthly": [49.0], "plan": ["basic"]}},
        ):
            _error(http.post("/invocations", json=doc), 400, "'plan'")  # MLflow's status there (issue 12)
        plan = {"name": "plan", "shape": [1], "datatype": "BYTES", "data": ["basic"]}
        r = http.post("/v2/models/churn/infer", json={"inputs": [*oip["inputs"], plan]})
        _error(r, 422, "'plan'")
        # 404 unknown endpoint, model, version
        _error(http.post("/endpoints/nope/predict", json={"instances": [ROW]}), 404, "nope")
        _error(http.post("/v2/models/nope/infer", json=oip), 404, "nope")
        _error(http.post("/v2/models/churn/versions/9/infer", json=oip), 404, "9")

        # token auth: 401 without a token, 403 with a wrong one, on predict and admin routes
        for path, doc in (("/endpoints/churn/predict", {"instances": [ROW]}), ("/admin/reload", None)):
            _error(httpx.post(url + path, json=doc), 401, "token")
            _error(httpx.post(url + path, json=doc, headers={"Authorization": "Bearer wrong"}), 403, "token")
        assert http.post("/admin/reload").status_code == 200
        assert httpx.get(url + "/v2/health/ready").status_code == 200  # probes stay open

        # after all that, both workers still answer
        for _ in range(6):
            assert http.post("/endpoints/churn/predict", json={"instances": [ROW]}).status_code == 200

        # hot swap at the default poll interval: every worker moves to the new champion
        lw.set_alias("churn", "champion", 2)
        deadline = time.monotonic() + 30
        recent: list[str] = []
        while recent[-10:] != ["2"] * 10:
            assert time.monotonic() < deadline, recent[-10:]
            with httpx.Client(base_url=url, headers=auth, timeout=30) as fresh:  # new connections
                r = fresh.post("/endpoints/churn/predict", json={"instances": [ROW]})
            assert r.status_code == 200 and r.headers["x-model-version"] in ("1", "2"), r.text
            recent.append(r.headers["x-model-version"])
            time.sleep(0.05)


def test_admin_reload_reaches_every_worker(sqlite_env: Path) -> None:
    """With polling effectively off, one `POST /admin/reload` moves both workers before it answers."""
    _register(2)
    with _serve_cli("--poll-interval", "3600") as url:
        lw.set_alias("churn", "champion", 2)
        reload = httpx.post(url + "/admin/reload", timeout=120)
        assert reload.status_code == 200, reload.text
        versions = set()
        for _ in range(20):
            with httpx.Client(base_url=url, timeout=30) as fresh:  # new connections reach both workers
                r = fresh.post("/endpoints/churn/predict", json={"instances": [ROW]})
            assert r.status_code == 200, r.text
            versions.add(r.headers["x-model-version"])
        assert versions == {"2"}


def test_issue_deployment_yaml_verbatim(sqlite_env: Path, tmp_path: Path) -> None:
    X = _register(7)
    path = tmp_path / "deployment.yaml"
    path.write_text(ISSUE_YAML)
    server = run_in_thread(str(path))
    try:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            described = http.get("/endpoints/churn").json()
            assert described["batching"] == {"enabled": True, "max_batch_size": 64, "max_latency_ms": 5.0}
            rows = X.head(1).to_dict("records")
            seen = Counter(
                http.post("/endpoints/churn/predict", json={"instances": rows}).headers["x-model-version"]
                for _ in range(300)
            )
            # weights 90/10 within statistical tolerance; the shadow (version 7) never answers
            assert set(seen) == {"1", "2"} and 10 <= seen["2"] <= 55, seen
            sticky = {
                http.post(
                    "/endpoints/churn/predict", json={"instances": rows}, headers={"X-Routing-Key": "user-42"}
                ).headers["x-model-version"]
                for _ in range(20)
            }
            assert len(sticky) == 1
        server.app.prediction_log.flush()
        logged = lw.list_predictions("churn", since=timedelta(minutes=5), include_shadow=True)
        shadow = logged[logged["shadow"]]
        assert set(shadow["model_version"]) == {7} and len(shadow) >= 300
        assert set(logged[~logged["shadow"]]["model_version"]) == {1, 2}
    finally:
        server.stop()


def test_prediction_log_feedback_since_and_metrics(sqlite_env: Path) -> None:
    _register(1)
    before = datetime.now(UTC) - timedelta(seconds=1)
    server = run_in_thread("models:/churn@champion")
    try:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            ids = []
            for tenure in (3, 40, 5):
                r = http.post(
                    "/endpoints/churn/predict", json={"instances": [{"tenure": tenure, "monthly": 50.0}]}
                )
                ids.append(r.json()["request_id"])
            r = http.post("/endpoints/churn/feedback", json={"request_id": ids[0], "label": 1})
            assert r.status_code == 200, r.text
            _error(http.post("/endpoints/churn/feedback", json={"label": 1}), 422, "request_id")
            http.post("/endpoints/churn/predict", json={"instances": [{"tenure": "x", "monthly": 1.0}]})
            metrics = http.get("/metrics").text
        server.app.prediction_log.flush()
    finally:
        server.stop()

    for since in (
        before,
        before.isoformat(),
        before.timestamp(),
        int(before.timestamp() * 1000),
        timedelta(minutes=5),
    ):
        logged = lw.list_predictions("churn", since=since)
        assert list(logged["request_id"]) == ids, since
        assert list(logged["prediction"]) == [1, 0, 1] and set(logged["model_version"]) == {1}
        assert {"tenure", "monthly", "latency_ms", "timestamp"} <= set(logged.columns)
    assert lw.list_predictions("churn", since=datetime.now(UTC) + timedelta(minutes=1)).empty
    with pytest.raises(lw.InvalidInput, match="ISO"):
        lw.list_predictions("churn", since="yesterday-ish")
    feedback = lw.list_feedback("churn")
    assert list(feedback["request_id"]) == [ids[0]] and list(feedback["label"]) == [1]

    for name in (
        "loopwright_requests_total",
        "loopwright_request_errors_total",
        "loopwright_request_latency_seconds_bucket",
        "loopwright_batch_rows_bucket",
        "loopwright_batches_total",
        "loopwright_queue_rows",
        "loopwright_prediction_log_dropped_total",
    ):
        assert name in metrics, name
    assert 'loopwright_request_errors_total{code="422",endpoint="churn"} 1.0' in metrics
    assert (
        'reason="time"' in metrics and 'code="200",endpoint="churn",protocol="predict",version="1"' in metrics
    )


def test_build_image_then_k8s_manifests_as_the_issue_writes_them(sqlite_env: Path, tmp_path: Path) -> None:
    _register(1)
    r = subprocess.run(
        [*CLI, "build-image", "models:/churn@champion"], capture_output=True, text=True, cwd=tmp_path
    )
    assert r.returncode == 0, r.stderr
    assert "loopwright-churn:latest" in r.stdout and (tmp_path / "loopwright-image" / "Dockerfile").is_file()
    # without --image the manifests deploy the tag build-image gave
    r = subprocess.run([*CLI, "k8s", "manifests", "models:/churn@champion"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    docs = {d["kind"]: d for d in yaml.safe_load_all(r.stdout)}
    container = docs["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "loopwright-churn:latest"
    assert container["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/v2/health/live"
    assert set(docs) == {"Deployment", "Service", "HorizontalPodAutoscaler"}


def test_serving_a_model_that_does_not_exist_says_so(sqlite_env: Path) -> None:
    r = subprocess.run(
        [*CLI, "serve", "models:/nope@champion", "--port", str(free_port())], capture_output=True, text=True
    )
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert "registered model 'nope' not found" in r.stderr and "set_alias" not in r.stderr


def test_lw_serve_with_two_workers_from_a_plain_script(sqlite_env: Path, tmp_path: Path) -> None:
    """The README's `lw.serve("models:/churn@champion", port=8080, workers=2)`, no __main__ guard."""
    _register(1)
    port = free_port()
    script = tmp_path / "serve_churn.py"
    script.write_text(
        f'import loopwright as lw\n\nlw.serve("models:/churn@champion", port={port}, workers=2)\n'
    )
    proc = subprocess.Popen(
        [sys.executable, str(script)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # Ctrl-C reaches the whole group, as in a terminal
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, proc)
        r = httpx.post(f"{url}/endpoints/churn/predict", json={"instances": [ROW]}, timeout=5)
        assert r.status_code == 200 and r.json()["predictions"] == [1]
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        _, stderr = proc.communicate(timeout=60)
    assert "Traceback" not in stderr, stderr[-2000:]
