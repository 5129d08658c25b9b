"""Serving benchmark: `loopwright serve` vs `mlflow models serve`, same models, same load generator.

Both servers run on 127.0.0.1 in this run and answer the same MLflow-style ``/invocations`` body
(``dataframe_split``); ``wrk`` (a C load generator, Lua script for the POST body) measures them, so
the client never competes with the server for the interpreter. Models: a 100-tree
GradientBoostingClassifier and a 100-tree RandomForestClassifier on 20 numeric features, trained
identically on both sides. Loopwright runs with its defaults (prediction log and access log on),
with ``--workers 1`` and ``2``, with and without ``--onnx``.

Figures per server: sequential single-row p50/p99 (``-c1``), throughput and p99 at 16 connections
(``-c16``), rows/s with 100-row requests (``-c4``); plus the raw in-process ``predict`` of one row as
the floor. MLflow and Loopwright ``--workers 1`` run interleaved, A B A B A B (a fresh server each
time, ``bench/_compare.py``); each ratio is per pair, reported as median and min-max, with versions and
load average. ``--all-configs`` adds one run each of Loopwright ``--workers 2``, ``--onnx`` and MLflow
``-w 2``. Prints JSON with the figures, the ratios and whether each target is met.

    .venv/bin/python bench/serving.py [--duration 8] [--models gbc,rf] [--repeats 3] [--all-configs]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import _compare  # noqa: E402
import refenv  # noqa: E402
from _serving_models import X, body, train  # noqa: E402

LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = io.open(os.getenv("BODY_FILE"), "r")
wrk.body = f:read("*a")
f:close()
done = function(summary, latency, requests)
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write
    + summary.errors.status + summary.errors.timeout
  io.write(string.format('WRK {"requests": %d, "seconds": %f, "errors": %d, "p50_ms": %f, "p99_ms": %f}\\n',
    summary.requests, summary.duration / 1e6, errors, latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            if httpx.get(f"{url}/ping", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{url} did not become ready")


@contextmanager
def server(command: list[str], env: dict[str, str]) -> Any:
    port = free_port()
    proc = subprocess.Popen(
        [*command, "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group: workers go down with it
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, proc)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def wrk(url: str, body_file: Path, lua: Path, connections: int, seconds: float) -> dict[str, float]:
    out = subprocess.run(
        [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{max(1, round(seconds))}s",
            "--timeout",
            "10s",
            "-s",
            str(lua),
            url,
        ],
        env={**os.environ, "BODY_FILE": str(body_file)},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    line = next(x for x in out.splitlines() if x.startswith("WRK "))
    result: dict[str, float] = json.loads(line[4:])
    result["rps"] = result["requests"] / result["seconds"]
    return result


def measure(url: str, bodies: dict[str, Path], lua: Path, seconds: float) -> dict[str, float]:
    """The three load shapes against one running server (after a short warm-up)."""
    target = f"{url}/invocations"
    wrk(target, bodies["one"], lua, 4, 2)
    c1 = wrk(target, bodies["one"], lua, 1, seconds)
    c16 = wrk(target, bodies["one"], lua, 16, seconds)
    batch = wrk(target, bodies["hundred"], lua, 4, seconds)
    return {
        "c1_p50_ms": c1["p50_ms"],
        "c1_p99_ms": c1["p99_ms"],
        "c16_rps": c16["rps"],
        "c16_p99_ms": c16["p99_ms"],
        "batch100_rows_per_s": batch["rps"] * 100,
        "batch100_p99_ms": batch["p99_ms"],
        "errors": c1["errors"] + c16["errors"] + batch["errors"],
    }


def raw_predict_ms(model: Any, repeat: int = 2000) -> float:
    """Median ms of one single-row predict in this process (the floor a server adds to)."""
    # the server passes arrays in the fitted column order and silences this warning; so does the floor
    warnings.filterwarnings("ignore", message="X does not have valid feature names")
    row = X.to_numpy()[:1]
    for _ in range(50):
        model(row)
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        model(row)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=float, default=8.0, help="seconds per wrk run")
    parser.add_argument("--models", default="gbc,rf")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--all-configs", action="store_true", help="also workers 2, ONNX, MLflow -w 2")
    args = parser.parse_args()
    kinds = args.models.split(",")

    work = Path(tempfile.mkdtemp(prefix="lw-bench-serving-"))
    home = work / "home"
    os.environ["LOOPWRIGHT_HOME"] = str(home)
    env = {**os.environ, "LOOPWRIGHT_HOME": str(home)}
    import loopwright as lw

    lua = work / "post.lua"
    lua.write_text(LUA)
    bodies = {"one": work / "one.json", "hundred": work / "hundred.json"}
    bodies["one"].write_text(body(1))
    bodies["hundred"].write_text(body(100))

    mlflow_python = refenv.ensure("mlflow")
    mlflow_models = work / "mlflow-models"
    subprocess.run(
        [str(mlflow_python), str(HERE / "_mlflow_serving.py"), str(mlflow_models)],
        check=True,
        capture_output=True,
    )
    mlflow_env = {**env, "PATH": f"{refenv.bin_dir('mlflow')}:{env['PATH']}"}
    mlflow_cli = str(refenv.bin_dir("mlflow") / "mlflow")
    loopwright_cli = [sys.executable, "-m", "loopwright.cli", "serve"]

    results: dict[str, Any] = {
        "benchmark": "serving",
        "duration_s": args.duration,
        "repeats": args.repeats,
        **_compare.environment("mlflow"),
        "models": {},
    }
    for kind in kinds:
        native = train(kind)
        with lw.start_run(name=f"bench-{kind}"):
            info = lw.log_model(native, "model", input_example=X.head(3))
            # skl2onnx converts tree ensembles with one [N, 20] input, not one input per column,
            # so the ONNX package is logged from an array example (a tensor signature)
            onnx_info = lw.log_model(native, "model-onnx", input_example=X.head(3).to_numpy(), onnx=True)
        lw.set_alias(kind, "champion", lw.register_model(info.uri, kind).version)
        lw.set_alias(f"{kind}-onnx", "champion", lw.register_model(onnx_info.uri, f"{kind}-onnx").version)
        uri, onnx_uri = f"models:/{kind}@champion", f"models:/{kind}-onnx@champion"
        loaded = lw.load_model(uri)
        loaded_onnx = lw.load_model(onnx_uri, prefer_onnx=True)
        figures: dict[str, Any] = {
            "raw_predict_ms": {
                "sklearn": raw_predict_ms(native.predict),
                "loaded": raw_predict_ms(partial(loaded.predict, validate=False)),
                "loaded_onnx": raw_predict_ms(partial(loaded_onnx.predict, validate=False)),
            }
        }
        mlflow_command = [
            mlflow_cli,
            "models",
            "serve",
            "-m",
            str(mlflow_models / kind),
            "--env-manager",
            "local",
            "-h",
            "127.0.0.1",
        ]

        def served(command: list[str], env: dict[str, str]) -> dict[str, float]:
            with server(command, env) as url:
                return measure(url, bodies, lua, args.duration)

        def loopwright_config(
            onnx: bool, workers: int, uri: str = uri, onnx_uri: str = onnx_uri
        ) -> list[str]:
            command = [*loopwright_cli, onnx_uri if onnx else uri, "--host", "127.0.0.1"]
            return [*command, "--workers", str(workers), *(["--onnx"] if onnx else [])]

        pairs = _compare.interleave(
            lambda: served(loopwright_config(False, 1), env),
            lambda command=mlflow_command: served(command, mlflow_env),
            args.repeats,
        )
        figures["pairs"] = pairs
        figures["loopwright_w1"] = _compare.medians([a for a, _ in pairs])
        figures["mlflow"] = _compare.medians([b for _, b in pairs])
        figures["ratios_loopwright_over_mlflow"] = {
            key: _compare.ratios(pairs, key, b_over_a=False)
            for key in ("c1_p50_ms", "c16_rps", "c16_p99_ms", "batch100_rows_per_s")
        }
        if args.all_configs:
            with server([*mlflow_command, "-w", "2"], mlflow_env) as url:
                figures["mlflow_workers2_c1_p50_ms"] = wrk(
                    f"{url}/invocations", bodies["one"], lua, 1, min(args.duration, 4)
                )["p50_ms"]
            figures["loopwright_w2"] = served(loopwright_config(False, 2), env)
            figures["loopwright_onnx_w1"] = served(loopwright_config(True, 1), env)
            figures["loopwright_onnx_w2"] = served(loopwright_config(True, 2), env)
        figures["targets"] = targets(figures, args.all_configs)
        results["models"][kind] = figures
        print(json.dumps({kind: figures}, indent=2), file=sys.stderr, flush=True)
    print(json.dumps(_compare.finish(results), indent=2))


def targets(f: dict[str, Any], all_configs: bool) -> dict[str, Any]:
    """Ratios against MLflow (of the medians) and the issue's targets, for each path measured."""
    mlflow = f["mlflow"]
    out: dict[str, Any] = {}
    paths = (("loopwright", "loaded"), ("loopwright_onnx", "loaded_onnx"))
    for path, floor in paths if all_configs else paths[:1]:
        w1, w2 = f[f"{path}_w1"], f.get(f"{path}_w2")
        out[path] = {
            "c16_throughput_x": round(w1["c16_rps"] / mlflow["c16_rps"], 1),
            "c16_p99_fraction": round(w1["c16_p99_ms"] / mlflow["c16_p99_ms"], 3),
            "batch100_rows_x": round(w1["batch100_rows_per_s"] / mlflow["batch100_rows_per_s"], 1),
            "c1_p50_minus_raw_ms": round(w1["c1_p50_ms"] - f["raw_predict_ms"][floor], 3),
        }
        if w2 is not None:  # only with --all-configs
            out[path]["w2_minus_w1_c1_p50_ms"] = round(w2["c1_p50_ms"] - w1["c1_p50_ms"], 3)
        t = out[path]
        t["met"] = {
            "c16_throughput >= 10x": t["c16_throughput_x"] >= 10,
            "c16_p99 <= 1/10": t["c16_p99_fraction"] <= 0.1,
            "batch100 >= 3x": t["batch100_rows_x"] >= 3,
            "c1_p50 within 1 ms of raw": t["c1_p50_minus_raw_ms"] <= 1,
        }
        if w2 is not None:
            t["met"]["workers2 c1_p50 within 1 ms"] = t["w2_minus_w1_c1_p50_ms"] <= 1
    return out


if __name__ == "__main__":
    main()
