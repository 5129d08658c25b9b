"""Embeddings serving benchmark: `/v1/embeddings` of `loopwright serve bundled:all-MiniLM-L6-v2` vs
`mlflow models serve` of the same sentence-transformers model, same load generator, same run.

Both servers run on 127.0.0.1 and embed one sentence per request: Loopwright through the OpenAI route
(``{"model": "all-MiniLM-L6-v2", "input": "..."}``, prediction log and access log on, its defaults),
MLflow through ``/invocations`` (``{"inputs": ["..."]}``) of the model saved with
``mlflow.sentence_transformers`` from the very folder Loopwright loads (``bench/.venv-mlflow``, where
``bench/refenv.py`` installs ``sentence-transformers``). ``wrk`` measures throughput and p99 at 16
connections (and p50 at 1); the servers run interleaved, A B A B (``bench/_compare.py``), each ratio is
per pair. Targets: Loopwright at least 5x MLflow's c16 throughput and at most 1/5 of its c16 p99.

    .venv/bin/python bench/embeddings.py [--duration 8] [--repeats 2]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import _compare  # noqa: E402
import refenv  # noqa: E402

from serving import LUA, server, wrk  # noqa: E402

SENTENCE = "The quarterly report shows that customer churn fell after the new onboarding flow shipped."


def measure(url: str, body: Path, lua: Path, seconds: float) -> dict[str, float]:
    wrk(url, body, lua, 4, 2)  # warm-up
    c1 = wrk(url, body, lua, 1, seconds)
    c16 = wrk(url, body, lua, 16, seconds)
    return {
        "c1_p50_ms": c1["p50_ms"],
        "c16_rps": c16["rps"],
        "c16_p99_ms": c16["p99_ms"],
        "errors": c16["errors"],
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=float, default=8.0, help="seconds per wrk run")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    from loopwright.llm.embeddings import model_path

    work = Path(tempfile.mkdtemp(prefix="lw-bench-embeddings-"))
    env = {**os.environ, "LOOPWRIGHT_HOME": str(work / "home")}
    lua = work / "post.lua"
    lua.write_text(LUA)
    ours, theirs = work / "openai.json", work / "mlflow.json"
    ours.write_text(json.dumps({"model": "all-MiniLM-L6-v2", "input": SENTENCE}))
    theirs.write_text(json.dumps({"inputs": [SENTENCE]}))

    mlflow_python = refenv.ensure("mlflow")
    saved = work / "mlflow-model"
    subprocess.run(
        [str(mlflow_python), str(HERE / "_mlflow_embeddings.py"), str(model_path()), str(saved)],
        check=True,
        capture_output=True,
    )
    mlflow_env = {**env, "PATH": f"{refenv.bin_dir('mlflow')}:{env['PATH']}"}
    mlflow_command = [
        str(refenv.bin_dir("mlflow") / "mlflow"),
        *("models", "serve", "-m", str(saved), "--env-manager", "local", "-h", "127.0.0.1"),
    ]
    loopwright_command = [sys.executable, "-m", "loopwright.cli", "serve", "bundled:all-MiniLM-L6-v2"]

    def loopwright() -> dict[str, float]:
        with server([*loopwright_command, "--host", "127.0.0.1"], env) as url:
            return measure(f"{url}/v1/embeddings", ours, lua, args.duration)

    def mlflow() -> dict[str, float]:
        with server(mlflow_command, mlflow_env) as url:
            return measure(f"{url}/invocations", theirs, lua, args.duration)

    pairs = _compare.interleave(loopwright, mlflow, args.repeats)
    throughput = _compare.ratios(pairs, "c16_rps", b_over_a=False)
    p99 = _compare.ratios(pairs, "c16_p99_ms")  # MLflow's p99 over Loopwright's: 5 means a fifth
    result: dict[str, Any] = {
        "benchmark": "embeddings",
        "duration_s": args.duration,
        "repeats": args.repeats,
        **_compare.environment("mlflow"),
        "pairs": pairs,
        **_compare.side_by_side(pairs, ("loopwright", "mlflow")),
        "ratios": {"c16_rps_loopwright_over_mlflow": throughput, "c16_p99_mlflow_over_loopwright": p99},
        "targets": {
            "throughput_5x": {
                "target": 5.0,
                "measured": throughput["median"],
                "met": throughput["median"] >= 5,
            },
            "p99_fifth": {"target": 5.0, "measured": p99["median"], "met": p99["median"] >= 5},
        },
    }
    print(json.dumps(_compare.finish(result), indent=2))


if __name__ == "__main__":
    main()
