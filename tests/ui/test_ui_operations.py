"""The operations pages in Chromium: a pipeline run's DAG (nodes, edges, cache hits, links to the step
runs), an endpoint's drift heatmap, rate/latency and metric charts from real monitoring of real
prediction-log traffic, the loop's history with its links, and its controls (pause through the
confirmed CSRF form, audited with the user; a viewer sees none and a forged POST is refused).

Everything goes through ``loopwright server``: the pipeline runs and the traffic are logged with the
``lw`` API against the server's URL, ``lw.monitor`` judges the windows, and the loop's transitions are
written through the Store API exactly as the controller writes them (a whole retrain-gate-canary
cycle would take a minute; tests/loop runs those)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import ops_flows
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

import loopwright as lw
from cli_process import PlatformServer, free_port
from loopwright.serving.inputs import ModelInput
from loopwright.serving.prediction_log import PredictionLog

HOUR = 3_600_000
T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z
FEATURES = ["f0", "f1", "f2"]
ENDPOINT = "churn-live"
MODEL = "churn"
ROLE_USERS = {"viewer": "vera", "maintainer": "mona", "admin": "ada"}


@contextmanager
def client_for(server: Any, token: str | None = None) -> Iterator[None]:
    """lw calls inside go to ``server`` (as the token's user under --auth)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LOOPWRIGHT_STORE_URI", server.url)
        mp.setenv("LOOPWRIGHT_HOME", str(server.home / "ops-client"))
        mp.delenv("LOOPWRIGHT_ARTIFACT_URI", raising=False)
        if token:
            mp.setenv("LOOPWRIGHT_TOKEN", token)
        lw.reset_clients()
        try:
            yield
        finally:
            lw.reset_clients()


def _traffic(rng: np.random.Generator, model: LogisticRegression, version: int) -> None:
    """Six hours of requests: three baseline, three with f0 shifted (drift), through the prediction log."""
    log = PredictionLog(lw.get_client)
    loaded = lw.load_model(f"models:/{MODEL}/{version}")
    for hour in range(6):
        for k in range(4):
            X = pd.DataFrame(rng.normal(size=(100, 3)), columns=FEATURES)
            if hour >= 3:
                X["f0"] = X["f0"] + 2.5
            data = ModelInput(X, len(X), tuple(FEATURES))
            stamp = T0 + hour * HOUR + k * 60_000
            log.record(
                ENDPOINT, uuid.uuid4().hex, stamp, loaded, MODEL, version, 2.0 + k, data, loaded.predict(X)
            )
    log.close()


def populate_operations(server: Any) -> dict[str, Any]:
    """A fan-in pipeline run twice (the second from cache), a monitored endpoint that drifts, and a
    loop cycle (retraining → gated → canary → promoted) with its trigger, gate run and canary report."""
    out: dict[str, Any] = {}
    with client_for(server, server.tokens["admin"]):
        lw.set_experiment("ops")
        first = ops_flows.fan_in.run(n=5)
        second = ops_flows.fan_in.run(n=5)
        out["pipeline"], out["cached"] = first.run_id, second.run_id
        rng = np.random.default_rng(0)
        X = pd.DataFrame(rng.normal(size=(800, 3)), columns=FEATURES)
        model = LogisticRegression().fit(X, (X["f0"] + X["f1"] > 0).astype(int))
        with lw.start_run(name="train-churn"):
            info = lw.log_model(model, "model", input_example=X.head(3))
        version = lw.register_model(info.uri, MODEL).version
        lw.profile(X, model=f"models:/{MODEL}/{version}")
        _traffic(rng, model, version)
        windows = lw.monitor(ENDPOINT, "1h", since=T0, now=T0 + 6 * HOUR)
        out["windows"] = windows
        with lw.start_run(name="gate") as gate:
            lw.log_metric("auc", 0.91)
        out["gate_run"] = gate.id
    write_loop_cycle(server, version, first.run_id, gate.id, server.tokens["admin"])
    return out


def write_loop_cycle(
    server: Any, version: int, pipeline_run: str, gate_run: str, token: str | None = None
) -> None:
    """One loop cycle of ``churn`` as the controller records it, with the details the page links."""
    with client_for(server, token):
        store = lw.get_client().store
        trigger = {"endpoint": ENDPOINT, "window": [T0 + 5 * HOUR, T0 + 6 * HOUR], "drifted_features": ["f0"]}
        moves = [
            ("retraining", ["idle"], None, "drift in window: features f0", {"trigger": trigger}),
            (
                "gated",
                ["retraining"],
                version,
                "gate passed: 3 checks held",
                {"pipeline_run_id": pipeline_run, "gate_run_id": gate_run, "passed": True},
            ),
            (
                "canary",
                ["gated"],
                version,
                "gate passed; challenger -> v1 takes canary traffic",
                {"canary_alias": "challenger"},
            ),
            (
                "promoted",
                ["canary"],
                version,
                "canary held: auc 0.91 >= champion 0.88",
                {
                    "canary": {
                        "verdict": "promote",
                        "reason": "auc 0.91 >= 0.88",
                        "requests": 40,
                        "n_rows": 4000,
                        "labelled": 900,
                        "metrics": {"auc": 0.91},
                        "champion_metrics": {"auc": 0.88},
                    }
                },
            ),
        ]
        for to, expect, v, reason, details in moves:
            store.transition_loop(
                MODEL, to, expect=expect, cycle=1, version=v, reason=reason, details=details
            )


@dataclass
class OpsServer:
    """A ``loopwright server`` of this module (lean: only what these pages show), tokens by role."""

    server: PlatformServer
    home: Path
    tokens: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.server.url


def _serve(home: Path, *args: str) -> PlatformServer:
    uris = ("--store-uri", f"sqlite:///{home}/lw.db", "--artifact-uri", str(home / "blobs"))
    return PlatformServer(*args, *uris, timeout=180)  # a cold start on a loaded 2-core box takes a while


@pytest.fixture(scope="module")
def ops_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpsServer]:
    """``loopwright server --auth`` (one server for the module: a start costs seconds) with a viewer,
    a maintainer and an admin token."""
    home = tmp_path_factory.mktemp("ops")
    uri = f"sqlite:///{home}/lw.db"
    tokens = {role: lw.create_token(user, role, store_uri=uri)[1] for role, user in ROLE_USERS.items()}
    server = _serve(home, "--auth")
    try:
        yield OpsServer(server, home, tokens)
    finally:
        log = server.stop()
        assert "Traceback" not in log, log[-3000:]


@pytest.fixture(scope="module")
def ops(ops_server: OpsServer) -> dict[str, Any]:
    return populate_operations(ops_server)


def test_pipeline_dag_steps_and_cache_hits(
    ops_server: Any, ops: dict[str, Any], page: Any, shoot: Any, sign_in: Any
) -> None:
    sign_in(page, ops_server, "viewer")
    page.goto(f"{ops_server.url}/pipelines")
    rows = page.locator("#pipeline-runs tbody tr")
    assert rows.count() == 2 and "fan_in" in rows.first.inner_text()
    shoot(page, "pipelines")
    page.click(f"a[href='/pipelines/{ops['pipeline']}']")
    page.wait_for_url(f"**/pipelines/{ops['pipeline']}")
    dag = page.locator("#dag svg")
    assert dag.locator("g.node").count() == 4  # load, double, square, combine
    # load→double, load→square, double→square, load→combine, square→combine
    assert dag.locator("path.edge").count() == 5
    assert sorted(dag.locator("g.node").evaluate_all("ns => ns.map(n => n.dataset.node)")) == [
        "combine",
        "double",
        "load",
        "square",
    ]
    statuses = page.locator("#steps tbody tr td:nth-child(3)").all_inner_texts()
    assert statuses == ["done"] * 4
    shoot(page, "pipeline-dag")
    page.goto(f"{ops_server.url}/pipelines/{ops['cached']}")
    assert page.locator("#steps tbody tr td:nth-child(4)").all_inner_texts()[0].startswith("yes")
    assert page.locator("#dag svg g.node", has_text="cache hit").count() == 4
    shoot(page, "pipeline-cached")
    page.locator("#dag svg g.node[data-node=combine]").click()
    page.wait_for_url(re.compile(r".*/runs/[0-9a-f]+$"))
    assert "combine" in page.content()


def test_endpoint_drift_heatmap_traffic_and_metrics(
    ops_server: Any, ops: dict[str, Any], page: Any, shoot: Any, sign_in: Any
) -> None:
    sign_in(page, ops_server, "viewer")
    page.goto(f"{ops_server.url}/deployments")
    page.click(f"#endpoints a:text('{ENDPOINT}')")
    page.wait_for_url(f"**/deployments/{ENDPOINT}")
    heatmap = page.locator("#drift-heatmap svg")
    cells = heatmap.locator("rect.cell")
    windows = len(ops["windows"])  # six hours of traffic and the open hour after them
    assert windows == 7 and cells.count() == len(FEATURES) * windows
    drifted = heatmap.locator("rect.cell.marked title").evaluate_all("ts => ts.map(t => t.textContent)")
    assert drifted and all(t.startswith("f0,") for t in drifted)  # only the shifted feature is outlined
    assert page.locator("#rate svg circle").count() == windows
    assert page.locator("#latency svg circle").count() == 2 * 6  # p50 and p95 where there was traffic
    versions = page.locator("#versions tbody tr").first.inner_text()
    assert versions.startswith(f"{MODEL}/1") and "400" in versions  # 4 requests x 100 rows per hour
    assert page.locator("#windows tbody tr").count() == windows
    shoot(page, "deployment")


def test_loop_history_links_and_a_confirmed_pause(
    ops_server: Any, ops: dict[str, Any], page: Any, shoot: Any, sign_in: Any
) -> None:
    sign_in(page, ops_server, "maintainer")
    page.goto(f"{ops_server.url}/loop")
    assert "promoted" in page.locator("#loops tbody tr").first.inner_text()
    page.click(f"#loops a:text('{MODEL}')")
    page.wait_for_url(f"**/loop/{MODEL}")
    history = page.locator("#history > tbody > tr")
    assert history.count() == 4
    assert page.locator("#history a:text('trigger window')").get_attribute("href") == (
        f"/deployments/{ENDPOINT}#w{T0 + 6 * HOUR}"
    )
    assert page.locator("#history a:text('gate run')").get_attribute("href") == f"/runs/{ops['gate_run']}"
    assert page.locator("#history a:text('candidate v1')").get_attribute("href") == f"/models/{MODEL}"
    assert "canary report: promote" in history.first.inner_text()
    shoot(page, "loop-model")
    form = page.locator("form[data-action=pause]")
    form.locator("input[name=reason]").fill("holiday <b>freeze</b>")
    form.locator("button").click()  # the browser refuses: the confirmation box is required
    assert "done=" not in page.url
    form.locator("input[name=confirm]").check()
    form.locator("button").click()
    page.wait_for_url(re.compile(r".*\?done=pause$"))
    assert "paused by mona" in page.locator("#loop-state").inner_text()
    assert "paused by mona: holiday <b>freeze</b>" in history.first.inner_text()  # shown as text
    assert page.locator("form[data-action=resume]").count() == 1
    shoot(page, "loop-paused")
    with client_for(ops_server, ops_server.tokens["admin"]):
        assert [e.actor for e in lw.list_audit_log(MODEL) if e.action == "loop_paused"] == ["mona"]
    csrf = page.locator("form[data-action=resume] input[name=csrf]").get_attribute("value")
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    with httpx.Client(base_url=ops_server.url, cookies=cookies) as http:
        unconfirmed = http.post(f"/loop/{MODEL}/resume", data={"csrf": csrf})
        assert unconfirmed.status_code == 422 and "confirmation" in unconfirmed.text
        assert http.post(f"/loop/{MODEL}/resume", data={"confirm": "yes"}).status_code == 403  # no CSRF


def test_viewer_sees_no_loop_controls_and_cannot_forge_them(
    ops_server: Any, ops: dict[str, Any], page: Any, shoot: Any, sign_in: Any
) -> None:
    with client_for(ops_server, ops_server.tokens["admin"]):
        before = lw.list_loop_history(MODEL)
    sign_in(page, ops_server, "viewer")
    page.goto(f"{ops_server.url}/loop/{MODEL}")
    assert page.locator("#history > tbody > tr").count() == len(before) >= 4
    assert page.locator("#loop-controls").count() == 0 and page.locator("form.control").count() == 0
    shoot(page, "loop-viewer")
    session = next(c["value"] for c in page.context.cookies() if c["name"] == "lw_session")
    csrf = page.locator("form.session input[name=csrf]").get_attribute("value")  # the viewer's own, valid
    with httpx.Client(base_url=ops_server.url, cookies={"lw_session": session}) as http:
        forged = http.post(f"/loop/{MODEL}/rollback", data={"confirm": "yes", "csrf": "0" * 64})
        by_role = http.post(f"/loop/{MODEL}/rollback", data={"confirm": "yes", "csrf": csrf})
    assert forged.status_code == 403 and by_role.status_code == 403 and "maintainer" in by_role.text
    with client_for(ops_server, ops_server.tokens["admin"]):
        assert len(lw.list_loop_history(MODEL)) == len(before)  # nothing moved


def test_demo_keep_serving_serves_the_ui_on_the_demo_store(tmp_path: Path) -> None:
    """``loopwright demo --keep-serving`` ends in ``show_web_ui(keep_serving=True)``: the UI of the demo's
    own store answers until the process is stopped (the whole demo runs in tests/e2e/test_demo.py)."""
    port = free_port()
    env = {**os.environ, "LOOPWRIGHT_HOME": str(tmp_path), "COLUMNS": "200"}
    env.pop("LOOPWRIGHT_STORE_URI", None)
    code = (
        "import loopwright as lw; from rich.console import Console; from loopwright.demo import show_web_ui; "
        "lw.get_client().store.set_loop_paused('demo-model', True, actor='demo', reason='seen in the UI'); "
        f"show_web_ui(Console(), keep_serving=True, port={port})"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 180  # a cold start on a loaded 2-core CI box
        while True:
            try:
                answer = httpx.get(f"http://127.0.0.1:{port}/loop", timeout=2)
                break
            except httpx.TransportError:
                assert proc.poll() is None and time.monotonic() < deadline, "the UI never came up"
                time.sleep(0.3)
        assert answer.status_code == 200 and "demo-model" in answer.text and "paused by demo" in answer.text
    finally:
        proc.terminate()
        out = proc.communicate(timeout=30)[0].decode()
    assert f"Web UI at http://127.0.0.1:{port}/" in out
