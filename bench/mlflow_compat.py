"""MLflow compatibility benchmark: the real MLflow client against ``loopwright server`` vs ``mlflow server``.

One client — MLflow 3.17.2 from the reference venv (``bench/refenv.py``), the same code for both sides —
talks to two real servers started here on free loopback ports, one worker process each, both on SQLite
(a file each) with a local artifact folder: ``loopwright server`` (its MLflow REST API,
``/api/2.0/mlflow/…``, translated onto its SqlStore) and ``mlflow server``. Workloads, timed in a fresh
client process per repeat after a warm-up call:

- per-call ``mlflow.log_metric`` (one synchronous HTTP request each: what MLflow users hurt from);
- ``MlflowClient.log_batch`` with 100 metrics per call;
- run creation: ``with mlflow.start_run(): pass`` (create and finish, two requests).

One short untimed client per server runs first (a warm-up pair), then the timed pairs.

The sides run interleaved (Loopwright, MLflow) per repeat; ratios are per pair (``bench/_compare.py``),
median and min-max, as MLflow's seconds over Loopwright's (higher is better for Loopwright). Prints JSON.

    .venv/bin/python bench/mlflow_compat.py [--repeats 3] [--calls 300]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
BATCH = 100  # metrics per log_batch call


def client_side(url: str, calls: int, batches: int, runs: int) -> dict[str, Any]:
    """The MLflow client's workloads against ``url`` (runs inside MLflow's venv)."""
    import logging

    import mlflow
    from mlflow.entities import Metric
    from mlflow.tracking import MlflowClient

    logging.getLogger("mlflow").setLevel(logging.ERROR)
    mlflow.set_tracking_uri(url)
    mlflow.set_experiment(f"bench-{os.getpid()}")
    client = MlflowClient()
    out: dict[str, Any] = {"mlflow_client": mlflow.__version__}
    with mlflow.start_run() as run:
        mlflow.log_metric("warm", 0.0)  # connection and first-request costs, not timed
        start = time.perf_counter()
        slowest = 0.0
        for i in range(calls):
            before = time.perf_counter()
            mlflow.log_metric("loss", 1.0 / (i + 1), step=i)
            slowest = max(slowest, time.perf_counter() - before)
        out["log_metric_s"] = time.perf_counter() - start
        # one stalled call (a retry with the client's back-off, the machine freezing) shows here
        out["log_metric_slowest_ms"] = round(slowest * 1000, 1)
        now = int(time.time() * 1000)
        start = time.perf_counter()
        for b in range(batches):
            metrics = [Metric("batched", float(i), now, b * BATCH + i) for i in range(BATCH)]
            client.log_batch(run.info.run_id, metrics=metrics)
        out["log_batch_s"] = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(runs):
        with mlflow.start_run():
            pass
    out["run_create_s"] = time.perf_counter() - start
    history = client.get_metric_history(run.info.run_id, "loss")
    out["logged_points"] = len(history)  # every call landed, on both sides
    return out


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def server(command: Sequence[str | Path], probe: str, log: Path, env: dict[str, str]) -> Iterator[str]:
    """Start ``command`` (``{port}`` filled in), wait until ``probe`` answers 200, yield its URL."""
    import httpx

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [str(c).format(port=port) for c in command], stdout=out, stderr=subprocess.STDOUT, env=env
        )
    try:
        deadline = time.monotonic() + 300  # a loaded 2-core machine
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{command[0]} exited: {log.read_text()[-3000:]}")
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(url + probe, timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"{command[0]} not ready: {log.read_text()[-3000:]}")
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--calls", type=int, default=300, help="per-call log_metric calls per repeat")
    parser.add_argument("--batches", type=int, default=30, help=f"log_batch calls ({BATCH} metrics each)")
    parser.add_argument("--runs", type=int, default=30, help="runs created per repeat")
    parser.add_argument("--client", metavar="URL", help=argparse.SUPPRESS)  # the child's mode
    args = parser.parse_args()
    if args.client:
        print(json.dumps(client_side(args.client, args.calls, args.batches, args.runs)))
        return

    sys.path.insert(0, str(HERE))
    import _compare
    import refenv

    python = refenv.ensure("mlflow")
    mlflow_bin = python.parent
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LOOPWRIGHT_", "MLFLOW_"))}
    counts = ["--calls", str(args.calls), "--batches", str(args.batches), "--runs", str(args.runs)]
    with tempfile.TemporaryDirectory(prefix="bench-mlflow-compat-") as tmp_name:
        tmp = Path(tmp_name)
        ours_cmd = [sys.executable, "-m", "loopwright.cli", "server", "--port", "{port}", "--workers", "1"]
        ours_cmd += ["--store-uri", f"sqlite:///{tmp}/lw.db", "--artifact-uri", str(tmp / "lw-artifacts")]
        mlflow_cmd: list[str | Path] = [
            mlflow_bin / "mlflow",
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            "{port}",
            "--workers",
            "1",
        ]
        mlflow_cmd += ["--backend-store-uri", f"sqlite:///{tmp}/mlflow.db"]
        mlflow_cmd += ["--artifacts-destination", str(tmp / "mlflow-artifacts")]
        mlflow_env = {**env, "PATH": f"{mlflow_bin}:{env['PATH']}"}
        with contextlib.ExitStack() as stack:
            ours = stack.enter_context(server(ours_cmd, "/readyz", tmp / "lw.log", env))
            theirs = stack.enter_context(server(mlflow_cmd, "/health", tmp / "mlflow.log", mlflow_env))

            def side(url: str) -> dict[str, Any]:
                command: list[str | Path] = [python, Path(__file__), "--client", url, *counts]
                return _compare.child_json(command, cwd=tmp)

            # one untimed pair first: in two runs the first pair's Loopwright side was 0.4-0.6x (the rest
            # 5.7-17x), the servers' start-up work landing on whichever client runs first
            for url in (ours, theirs):
                _compare.child_json([python, Path(__file__), "--client", url, "--calls", "30", "--batches", "3",
                                     "--runs", "3"], cwd=tmp)  # fmt: skip
            pairs = _compare.interleave(lambda: side(ours), lambda: side(theirs), args.repeats)
    figures = {
        "log_metric_calls_per_s": ("log_metric_s", args.calls),
        "log_batch_metrics_per_s": ("log_batch_s", args.batches * BATCH),
        "runs_created_per_s": ("run_create_s", args.runs),
    }
    result: dict[str, Any] = {
        "benchmark": "mlflow_compat",
        "backend": "sqlite (a file per server), one worker process each",
        "client": "the MLflow client from bench/.venv-mlflow, the same for both servers",
        "loopwright": {},
        "mlflow": {},
        "ratios_mlflow_s_over_loopwright_s": {},
    }
    for name, (key, units) in figures.items():
        result["loopwright"][name] = round(units / statistics.median([a[key] for a, _ in pairs]), 1)
        result["mlflow"][name] = round(units / statistics.median([b[key] for _, b in pairs]), 1)
        result["ratios_mlflow_s_over_loopwright_s"][name] = _compare.ratios(pairs, key)
    result["logged_points"] = {
        "loopwright": pairs[0][0]["logged_points"],
        "mlflow": pairs[0][1]["logged_points"],
    }
    result["environment"] = _compare.environment("mlflow")
    result["pairs"] = pairs
    print(json.dumps(_compare.finish(result), indent=2))


if __name__ == "__main__":
    main()
