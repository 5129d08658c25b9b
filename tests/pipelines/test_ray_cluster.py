"""A real two-node Ray cluster on this host: ``ray start --head`` plus a node joined by ``--address``.

Each node has one CPU and its own custom resource (``node_a``, ``node_b``), so placement by
``@step(resources=...)`` is observable; a step that SIGKILLs its own worker is retried on the other
node; the driver reads every output from the artifact store, with or without a Ray connection.
The cluster is started once for the module and stopped by killing the process groups of the two
``ray start --block`` commands this module started (``ray stop`` would stop every Ray on the host).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cluster_flows as flows
import pytest
import ray

import loopwright as lw
from loopwright.pipelines.executors.ray import NODE_TAG


@dataclass(frozen=True)
class Cluster:
    address: str
    nodes: dict[str, str]  # custom resource → node id


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _ray_start(args: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    ray_cli = str(Path(sys.executable).with_name("ray"))
    with log.open("wb") as out:
        # --block keeps the command as the parent of the node's processes (they die with it) and
        # makes it a process-group leader: the teardown stops exactly this node, by its group id
        return subprocess.Popen(
            [ray_cli, "start", "--block", "--disable-usage-stats", "--node-ip-address=127.0.0.1", *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )


def _wait_started(proc: subprocess.Popen[bytes], log: Path, deadline: float) -> None:
    while "Ray runtime started" not in log.read_text(errors="replace"):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"ray start failed:\n{log.read_text(errors='replace')[-3000:]}")
        time.sleep(0.2)


def _wait_listening(port: int, proc: subprocess.Popen[bytes], log: Path, deadline: float) -> None:
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"ray start failed:\n{log.read_text(errors='replace')[-3000:]}") from None
            time.sleep(0.2)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
            proc.wait(timeout=10)
            return
        except ProcessLookupError:
            return
        except subprocess.TimeoutExpired:
            continue


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    root = Path(tempfile.mkdtemp(prefix="lwray", dir="/tmp"))  # short: Ray's socket paths have a limit
    port = _free_port()
    address = f"127.0.0.1:{port}"
    env = {
        **os.environ,
        "RAY_AUTH_MODE": "disabled",
        "RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S": "0",  # a stopped test node has nothing to drain
        # the nodes' workers import the test flows as the driver does
        "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")]),
    }
    common = ["--num-cpus=1", "--object-store-memory=80000000", "--include-log-monitor=false"]
    started: list[subprocess.Popen[bytes]] = []
    with pytest.MonkeyPatch.context() as patch:  # restored after the module: no leak into later files
        patch.setenv("RAY_AUTH_MODE", "disabled")
        try:
            deadline = time.monotonic() + 150  # a loaded 2-core machine took 50 s
            head = _ray_start(
                [
                    "--head",
                    f"--port={port}",
                    "--include-dashboard=false",
                    # a free port for the Ray Client server (10001 may be another Ray's on this host)
                    f"--ray-client-server-port={_free_port()}",
                    "--no-monitor",  # a fixed cluster needs no autoscaler: one process fewer to start
                    '--resources={"node_a": 1}',
                    f"--temp-dir={root / 'a'}",
                    *common,
                ],
                root / "head.log",
                env,
            )
            started.append(head)
            _wait_listening(port, head, root / "head.log", deadline)
            # the second node joins as soon as the GCS answers, while the head starts the rest
            worker = _ray_start(
                [f"--address={address}", '--resources={"node_b": 1}', f"--temp-dir={root / 'b'}", *common],
                root / "worker.log",
                env,
            )
            started.append(worker)
            _wait_started(head, root / "head.log", deadline)
            _wait_started(worker, root / "worker.log", deadline)
            ray.shutdown()  # a connection an earlier module left open would be kept instead
            ray.init(address=address, include_dashboard=False, log_to_driver=False)
            nodes: dict[str, str] = {}
            while len(nodes) < 2 and time.monotonic() < deadline:
                alive = [n for n in ray.nodes() if n["Alive"]]
                nodes = {r: n["NodeID"] for n in alive for r in ("node_a", "node_b") if r in n["Resources"]}
                time.sleep(0.2)
            assert set(nodes) == {"node_a", "node_b"} and nodes["node_a"] != nodes["node_b"]
            yield Cluster(address, nodes)
        finally:
            ray.shutdown()
            for proc in reversed(started):
                _stop(proc)
            shutil.rmtree(root, ignore_errors=True)


def _tracking_node(run_id: str | None) -> str:
    assert run_id is not None
    return lw.get_run(run_id).system_tags[NODE_TAG]


def test_steps_run_on_the_nodes_their_resources_name(sqlite_env: Path, cluster: Cluster) -> None:
    result = flows.placed.run(label="x", executor="ray", address=cluster.address)
    assert result.run.executor == f"ray:{cluster.address}"
    on_a, on_b = result.output
    assert on_a == {"label": "x", "node": cluster.nodes["node_a"]}
    assert on_b == {"label": "x", "node": cluster.nodes["node_b"]}
    # each step's tracking run names the node it ran on
    assert _tracking_node(result.steps["on_a"].run_id) == cluster.nodes["node_a"]
    assert _tracking_node(result.steps["on_b"].run_id) == cluster.nodes["node_b"]
    # the driver read those outputs from the artifact store (the object store held only digests)
    assert all(lw.get_client().blobs.exists(o.digest) for s in result.steps.values() for o in s.outputs)


def test_a_killed_worker_is_retried_on_the_other_node(
    sqlite_env: Path, cluster: Cluster, tmp_path: Path
) -> None:
    once, always = tmp_path / "once", tmp_path / "always"
    # dies_always has no retry left after its worker is killed: the pipeline fails naming the crash
    with pytest.raises(lw.PipelineFailed, match=r"dies_always.*WorkerCrashedError") as failed:
        flows.fragile.run(once=str(once), always=str(always), executor="ray", address=cluster.address)
    result = failed.value.result
    assert result.steps["dies_always"].status == "failed" and result.steps["dies_always"].attempts == 1
    # dies_once (retries=1) was submitted again, away from the node its worker died on
    out = result["dies_once"]
    assert out["died_on"] in cluster.nodes.values() and out["node"] in cluster.nodes.values()
    assert out["node"] != out["died_on"]
    step = result.steps["dies_once"]
    assert step.status == "done" and step.attempts == 2
    # the dead attempts' tracking runs are ended failed (not left running), the retry's finished
    runs = lw.list_child_runs(result.run_id)
    by_step = {(r.system_tags["loopwright.step"], r.status): r for r in runs}
    assert sorted(by_step) == [("dies_always", "failed"), ("dies_once", "failed"), ("dies_once", "finished")]
    assert "WorkerCrashedError" in (by_step["dies_once", "failed"].error or "")
    assert by_step["dies_once", "failed"].system_tags[NODE_TAG] == out["died_on"]
    assert by_step["dies_once", "finished"].id == step.run_id


def test_tune_trials_run_on_the_cluster_named_by_settings(
    sqlite_env: Path, cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOOPWRIGHT_RAY_ADDRESS", cluster.address)  # executor="ray" joins it
    found = lw.tune(
        flows.quadratic,
        space={"x": lw.uniform(0.0, 4.0)},
        metric="loss",
        mode="min",
        trials=2,
        executor="ray",
        parallel=2,
    )
    assert len(found.trials) == 2 and all(t.status == "finished" for t in found.trials)
    for trial in found.trials:
        pipeline_run = lw.get_pipeline_run(trial.run_id)
        assert pipeline_run.run.executor == f"ray:{cluster.address}"
        assert _tracking_node(pipeline_run.steps["quadratic_loss"].run_id) in cluster.nodes.values()
    # outputs live in the artifact store: readable with no Ray connection at all (last test: the
    # module's connection is closed here rather than in every test, so workers stay warm)
    ray.shutdown()
    best = lw.get_pipeline_run(found.best_run_id)
    assert best["quadratic_loss"] == pytest.approx(found.best_value)
