"""Hot swap: the served alias moves under load, and no request fails or loses its version."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression

import loopwright as lw
from conftest import FEATURES, register, training_data
from loopwright.serving import ServerHandle
from loopwright.serving.deployment import Deployment


def _price_versions() -> dict[str, LinearRegression]:
    """Three regressors whose answers differ, so an answer names the version that produced it."""
    X, _ = training_data()
    models = {}
    for version, scale in ((1, 1.0), (2, 10.0), (3, 100.0)):
        model = LinearRegression().fit(X, scale * (X @ np.arange(1, len(FEATURES) + 1)) + scale)
        assert register(model, "price", X.head(3)) == version
        models[str(version)] = model
    lw.set_alias("price", "champion", 1)
    return models


def test_alias_moves_every_second_under_load_without_a_failure(
    sqlite_env: object, serve: Callable[..., ServerHandle]
) -> None:
    models = _price_versions()
    server = serve("models:/price@champion", poll_interval=0.2)
    row = {f: float(i) for i, f in enumerate(FEATURES)}
    expected = {v: m.predict(pd.DataFrame([row]))[0] for v, m in models.items()}
    stop = threading.Event()
    results: list[tuple[int, str | None, float | None]] = []
    lock = threading.Lock()

    def client() -> None:
        with httpx.Client(timeout=30) as http:
            while not stop.is_set():
                try:
                    r = http.post(f"{server.url}/endpoints/price/predict", json={"instances": [row]})
                    answer = (r.status_code, r.headers.get("x-model-version"), r.json()["predictions"][0])
                except Exception:  # a transport error is a failed request too
                    answer = (0, None, None)
                with lock:
                    results.append(answer)

    threads = [threading.Thread(target=client) for _ in range(16)]
    for t in threads:
        t.start()
    for move in range(10):  # the alias moves every second for 10 s
        time.sleep(1.0)
        lw.set_alias("price", "champion", [2, 3, 1][move % 3])
    stop.set()
    for t in threads:
        t.join()

    assert results and all(status == 200 for status, _, _ in results), Counter(s for s, _, _ in results)
    for _, version, prediction in results:
        assert version in expected
        assert prediction is not None and np.isclose(
            prediction, expected[version]
        )  # answered by that version
    assert {v for _, v, _ in results} == {"1", "2", "3"}
    metrics = httpx.get(f"{server.url}/metrics").text
    assert 'loopwright_model_swaps_total{endpoint="price"}' in metrics


def test_admin_reload_swaps_at_once(sqlite_env: object, serve: Callable[..., ServerHandle]) -> None:
    _price_versions()
    server = serve("models:/price@champion", poll_interval=3600)
    row = {f: 1.0 for f in FEATURES}
    url = f"{server.url}/endpoints/price/predict"
    assert httpx.post(url, json={"instances": [row]}).headers["x-model-version"] == "1"
    lw.set_alias("price", "champion", 3)
    assert httpx.post(url, json={"instances": [row]}).headers["x-model-version"] == "1"  # not polled yet
    reload = httpx.post(f"{server.url}/admin/reload", timeout=60).json()
    assert reload["swapped"] == [
        {"endpoint": "price", "uri": "models:/price@champion", "old_version": 1, "new_version": 3}
    ]
    assert reload["endpoints"][0]["routes"][0]["model_version"] == 3
    r = httpx.post(url, json={"instances": [row]})
    assert r.headers["x-model-version"] == "3" and r.json()["model_version"] == 3
    assert httpx.post(f"{server.url}/admin/reload", timeout=60).json()["swapped"] == []


def test_an_unset_alias_route_is_dormant_until_the_alias_is_set(
    sqlite_env: object, serve: Callable[..., ServerHandle]
) -> None:
    _price_versions()
    deployment = {
        "endpoints": {
            "price": {
                "routes": [
                    {"model": "models:/price@champion", "weight": 50},
                    {"model": "models:/price@challenger", "weight": 50},
                ]
            }
        }
    }
    server = serve(Deployment.from_dict(deployment), poll_interval=3600)  # no challenger yet: it waits
    url = f"{server.url}/endpoints/price/predict"
    row = {f: 1.0 for f in FEATURES}

    def versions(n: int = 40) -> set[str]:
        return {httpx.post(url, json={"instances": [row]}).headers["x-model-version"] for _ in range(n)}

    def reload() -> dict[str, Any]:
        answer: dict[str, Any] = httpx.post(f"{server.url}/admin/reload", timeout=60).json()
        return answer

    assert versions() == {"1"}
    routes = httpx.get(f"{server.url}/endpoints/price").json()["routes"]
    assert [(r["model"], r["role"], r["model_version"]) for r in routes] == [
        ("models:/price@champion", "route", 1),
        ("models:/price@challenger", "dormant", None),
    ]
    lw.set_alias("price", "challenger", 2)  # a canary starts: the route wakes up
    assert reload()["swapped"] == [
        {"endpoint": "price", "uri": "models:/price@challenger", "old_version": None, "new_version": 2}
    ]
    assert versions() == {"1", "2"}
    lw.delete_alias("price", "challenger")  # ... and ends: its traffic goes back to the champion
    assert reload()["swapped"] == [
        {"endpoint": "price", "uri": "models:/price@challenger", "old_version": 2, "new_version": None}
    ]
    assert versions() == {"1"}
    lw.delete_alias("price", "champion")  # the last serving route keeps its version
    assert reload()["swapped"] == [] and versions(5) == {"1"}


def _break_package(name: str, version: int) -> None:
    """Overwrite the stored files of a version: loading it fails its digest check."""
    client = lw.get_client()
    digest = client.store.get_model_version(name, version).manifest_digest
    assert digest is not None
    manifest = json.loads(client.blobs.get_bytes(digest))
    for entry in manifest["files"]:
        path = client.blobs.local_path(entry["sha256"])
        assert path is not None
        path.chmod(0o644)
        path.write_bytes(b"not the model that was logged")


def _predict_version(url: str) -> str:
    row = {f: 1.0 for f in FEATURES}
    r = httpx.post(f"{url}/endpoints/price/predict", json={"instances": [row]})
    assert r.status_code == 200, r.text
    return r.headers["x-model-version"]


def test_reload_to_a_version_that_fails_answers_the_failure_and_readiness_shows_it(
    sqlite_env: object, serve: Callable[..., ServerHandle]
) -> None:
    _price_versions()
    _break_package("price", 3)
    server = serve("models:/price@champion", poll_interval=3600)
    lw.set_alias("price", "champion", 3)
    r = httpx.post(f"{server.url}/admin/reload", timeout=60)
    assert r.status_code == 502, r.text
    answer = r.json()
    assert "models:/price@champion version 3" in answer["error"] and "IntegrityError" in answer["error"]
    assert "version 1 keeps serving" in answer["error"] and answer["swapped"] == []
    assert [(f["model"], f["serving_version"], f["wanted_version"]) for f in answer["failed"]] == [
        ("models:/price@champion", 1, 3)
    ]
    assert _predict_version(server.url) == "1"
    ready = httpx.get(f"{server.url}/v2/health/ready")
    assert ready.status_code == 200  # still serving: an operator sees the lag, the probe does not fail
    [behind] = ready.json()["routes_behind"]
    assert (behind["endpoint"], behind["serving_version"], behind["wanted_version"]) == ("price", 1, 3)
    assert "IntegrityError" in behind["error"]

    lw.set_alias("price", "champion", 2)  # a good version: the route catches up
    r = httpx.post(f"{server.url}/admin/reload", timeout=60)
    assert r.status_code == 200 and r.json()["swapped"][0]["new_version"] == 2
    assert httpx.get(f"{server.url}/v2/health/ready").json()["routes_behind"] == []
    assert _predict_version(server.url) == "2"


def test_a_failing_alias_logs_one_line_not_a_traceback_every_poll(
    sqlite_env: object, serve: Callable[..., ServerHandle], caplog: pytest.LogCaptureFixture
) -> None:
    _price_versions()
    _break_package("price", 3)
    caplog.set_level(logging.INFO, logger="loopwright.serving")
    server = serve("models:/price@champion", poll_interval=0.05)
    lw.set_alias("price", "champion", 3)
    deadline = time.monotonic() + 60
    while not httpx.get(f"{server.url}/v2/health/ready").json().get("routes_behind"):
        assert time.monotonic() < deadline, "the poller never tried version 3"
        time.sleep(0.05)
    time.sleep(1.0)  # twenty more polls
    assert _predict_version(server.url) == "1"
    lines = [r for r in caplog.records if "price@champion" in r.getMessage()]
    assert len(lines) == 1, [r.getMessage() for r in lines]
    message = lines[0].getMessage()
    assert lines[0].exc_info is None and "\n" not in message
    assert "version 3" in message and "IntegrityError" in message and "version 1 keeps serving" in message
    metrics = httpx.get(f"{server.url}/metrics").text
    assert 'loopwright_model_swap_failures_total{endpoint="price"}' in metrics
