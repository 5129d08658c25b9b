"""Deployment files, the CLI (one and two workers), Docker and Kubernetes files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from cli_process import free_port, wait_ready
from conftest import Registered, records
from loopwright.errors import InvalidInput
from loopwright.serving import Deployment

CLI = [sys.executable, "-m", "loopwright.cli"]


def test_deployment_file_parsing(tmp_path: Path) -> None:
    path = tmp_path / "d.yaml"
    path.write_text(
        """
endpoints:
  churn:
    routes:
      - model: models:/churn@champion   # weight 90
        weight: 90
      - model: models:/churn@challenger
        weight: 10
    shadow: models:/churn/7
    batching: {max_batch_size: 64, max_latency_ms: 5}
  price:
    model: models:/price/2
    batching: false
"""
    )
    d = Deployment.load(str(path))
    churn, price = d.endpoints
    assert [(r.model, r.weight) for r in churn.routes] == [
        ("models:/churn@champion", 90),
        ("models:/churn@challenger", 10),
    ]
    assert churn.shadow == "models:/churn/7" and churn.batching.max_batch_size == 64
    assert price.routes[0].model == "models:/price/2" and not price.batching.enabled
    assert Deployment.from_dict(d.to_dict()) == d
    assert Deployment.from_uri("models:/churn@champion").endpoints[0].name == "churn"
    for bad in (
        {"endpoints": {"x": {"routes": []}}},
        {"endpoints": {"x": {"model": "models:/x/1", "weight": 3}}},
        {"endpoints": {"x": {"routes": [{"model": "models:/x/1", "weight": -1}]}}},
        {"endpoints": {"x": {"model": "s3://bucket/model"}}},
        {"endpoints": {"x": {"model": "models:/x/1", "batching": {"max_batch_size": 0}}}},
        {"endpoints": {"bad name!": {"model": "models:/x/1"}}},
        {"serve": []},
    ):
        with pytest.raises(InvalidInput):
            Deployment.from_dict(bad)


@pytest.fixture
def cli_server(registered: Registered) -> Iterator[callable]:  # type: ignore[valid-type]
    procs: list[subprocess.Popen[str]] = []

    def start(*args: str) -> str:
        port = free_port()
        proc = subprocess.Popen(
            [*CLI, "serve", *args, "--port", str(port), "--no-access-log"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=os.environ.copy(),
        )
        procs.append(proc)
        url = f"http://127.0.0.1:{port}"
        wait_ready(url, proc, timeout=90)
        return url

    yield start
    for proc in procs:
        proc.terminate()
        proc.communicate(timeout=60)


def test_cli_serve_one_worker(registered: Registered, cli_server) -> None:  # type: ignore[no-untyped-def]
    url = cli_server("models:/churn@champion")
    rows = registered.X.iloc[:3]
    r = httpx.post(f"{url}/endpoints/churn/predict", json={"instances": records(rows)})
    assert r.status_code == 200 and r.json()["predictions"] == registered.gbc.predict(rows).tolist()


def test_cli_serve_two_workers_share_the_port_and_metrics(registered: Registered, cli_server) -> None:  # type: ignore[no-untyped-def]
    url = cli_server("models:/churn@champion", "--workers", "2")
    rows = registered.X.iloc[:2]
    n = 40
    for _ in range(n):  # a new connection each time: the kernel spreads them over the workers
        with httpx.Client() as http:
            r = http.post(f"{url}/endpoints/churn/predict", json={"instances": records(rows)})
            assert r.status_code == 200 and r.json()["predictions"] == registered.gbc.predict(rows).tolist()
    # keep-alive on one connection works too (and each answer is prompt: TCP_NODELAY is set)
    with httpx.Client() as http:
        for _ in range(20):
            assert (
                http.post(f"{url}/endpoints/churn/predict", json={"instances": records(rows)}).status_code
                == 200
            )
    metrics = httpx.get(f"{url}/metrics").text
    line = next(
        x
        for x in metrics.splitlines()
        if x.startswith('loopwright_requests_total{code="200",endpoint="churn"')
    )
    assert float(line.rsplit(" ", 1)[1]) == n + 20  # summed over both workers


def test_cli_serve_unknown_model_is_one_line_error(sqlite_env: Path) -> None:
    r = subprocess.run(
        [*CLI, "serve", "models:/nope@champion", "--port", str(free_port())],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 1
    assert "nope" in r.stderr and "Traceback" not in r.stderr


def test_k8s_manifests_parse_and_carry_probes(tmp_path: Path, sqlite_env: Path) -> None:
    out = tmp_path / "k8s.yaml"
    r = subprocess.run(
        [
            *CLI,
            "k8s",
            "manifests",
            "models:/churn@champion",
            "--image",
            "registry.local/churn:1",
            "--output",
            str(out),
        ],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr
    docs = list(yaml.safe_load_all(out.read_text()))
    kinds = {d["kind"]: d for d in docs}
    assert set(kinds) == {"Deployment", "Service", "HorizontalPodAutoscaler"}
    container = kinds["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "registry.local/churn:1"
    assert container["args"][:2] == ["serve", "models:/churn@champion"]
    assert container["livenessProbe"]["httpGet"] == {"path": "/v2/health/live", "port": 8080}
    assert container["readinessProbe"]["httpGet"] == {"path": "/v2/health/ready", "port": 8080}
    assert kinds["Service"]["spec"]["ports"][0]["targetPort"] == "http"
    assert kinds["HorizontalPodAutoscaler"]["spec"]["scaleTargetRef"]["name"] == "churn"

    deployment = tmp_path / "d.yaml"
    deployment.write_text(yaml.safe_dump({"endpoints": {"churn": {"model": "models:/churn@champion"}}}))
    r = subprocess.run(
        [*CLI, "k8s", "manifests", str(deployment), "--image", "x:1"], capture_output=True, text=True
    )
    docs = list(yaml.safe_load_all(r.stdout))
    assert [d["kind"] for d in docs] == ["ConfigMap", "Deployment", "Service", "HorizontalPodAutoscaler"]
    assert yaml.safe_load(docs[0]["data"]["deployment.yaml"]) == yaml.safe_load(deployment.read_text())
    pod = docs[1]["spec"]["template"]["spec"]
    assert pod["containers"][0]["args"][1] == "/etc/loopwright/deployment.yaml"
    config = next(v for v in pod["volumes"] if "configMap" in v)
    assert config["configMap"]["name"] == docs[0]["metadata"]["name"]


def test_build_image_writes_a_dockerfile(registered: Registered, tmp_path: Path) -> None:
    r = subprocess.run(
        [*CLI, "build-image", "models:/churn@champion", "--output", str(tmp_path / "ctx")],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr
    assert "no Docker engine" in r.stdout or "built" in r.stdout
    text = (tmp_path / "ctx" / "Dockerfile").read_text()
    instructions = [line.split()[0] for line in text.splitlines() if line and not line.startswith("#")]
    assert set(instructions) <= {
        "FROM",
        "ENV",
        "RUN",
        "COPY",
        "USER",
        "EXPOSE",
        "HEALTHCHECK",
        "ENTRYPOINT",
        "CMD",
    }
    assert instructions[0] == "FROM"
    entrypoint = json.loads(next(line for line in text.splitlines() if line.startswith("ENTRYPOINT "))[11:])
    cmd = json.loads(next(line for line in text.splitlines() if line.startswith("CMD "))[4:])
    assert entrypoint + cmd[:2] == ["loopwright", "serve", "models:/churn@champion"]
    assert "/v2/health/ready" in next(line for line in text.splitlines() if line.startswith("HEALTHCHECK"))
    assert "scikit-learn==" in text  # the model's recorded requirements are pinned
