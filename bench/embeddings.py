"""Embeddings serving benchmark: `/v1/embeddings` of `loopwright serve bundled:all-MiniLM-L6-v2` vs
`mlflow models serve` of the same sentence-transformers model, same load generator, same run.

Both servers run on 127.0.0.1 and embed one text per request: Loopwright through the OpenAI route
(``{"model": "all-MiniLM-L6-v2", "input": "..."}``, prediction log and access log on, its defaults),
MLflow through ``/invocations`` (``{"inputs": ["..."]}``) of the model saved with
``mlflow.sentence_transformers`` from the very folder Loopwright loads (``bench/.venv-mlflow``, where
``bench/refenv.py`` installs ``sentence-transformers``). Two request mixes, the same texts on both sides:
``one``, the same 15-word sentence every time (19 tokens), and ``mixed``, the demo handbook's sentences,
paragraphs and pairs of paragraphs (5 to 100 tokens) in a fixed shuffled order that ``wrk`` cycles
through, so concurrent requests differ in length as real traffic does. ``wrk`` measures throughput and
p99 at 16 connections (and p50 at 1), and each server's CPU time per request at 16 (its process group's
user + system time over the run: what a request costs whatever share of a loaded machine the server got);
the servers run interleaved, A B A B (``bench/_compare.py``), each
ratio is per pair. Targets (on ``one``, the issue's load): Loopwright at least 5x MLflow's c16
throughput and at most 1/5 of its c16 p99.

    .venv/bin/python bench/embeddings.py [--duration 8] [--repeats 2]
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import random
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import _compare  # noqa: E402
import refenv  # noqa: E402

from serving import LUA, server, wrk  # noqa: E402

SENTENCE = "The quarterly report shows that customer churn fell after the new onboarding flow shipped."
# wrk sends the bodies of BODY_FILE, one JSON document a line, in turn (one Lua state: -t1)
MIX_LUA = LUA.replace(
    """wrk.body = f:read("*a")""",
    """bodies = {}
for line in f:lines() do bodies[#bodies + 1] = line end
turn = 0
request = function()
  turn = turn % #bodies + 1
  return wrk.format(nil, nil, nil, bodies[turn])
end""",
)


def mixed_texts() -> list[str]:
    """The handbook's sentences, paragraphs and neighbouring paragraph pairs, shuffled with a fixed seed."""
    from loopwright.demo.llm import handbook

    paragraphs = list(handbook().values())
    sentences = [s.strip() + "." for p in paragraphs for s in p.split(". ") if s.strip(" .")]
    pairs = [f"{a} {b}" for a, b in itertools.pairwise(paragraphs)]
    texts = sentences + paragraphs + pairs
    random.Random(15).shuffle(texts)
    return texts


def cpu_seconds(url: str) -> float:
    """CPU time (user + system) of the server listening at ``url`` and its process group so far."""
    port = str(urlsplit(url).port)
    stats = {}
    for entry in Path("/proc").iterdir():
        with contextlib.suppress(OSError, ValueError):
            if entry.name.isdigit():
                argv = (entry / "cmdline").read_bytes().split(b"\0")
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                stats[int(entry.name)] = (argv, int(stat[2]), int(stat[11]) + int(stat[12]))
    leader = next(pid for pid, (argv, _, _) in stats.items() if port.encode() in argv and b"--port" in argv)
    group = stats[leader][1]
    return sum(ticks for _, pgrp, ticks in stats.values() if pgrp == group) / os.sysconf("SC_CLK_TCK")


def measure(url: str, bodies: dict[str, Path], lua: Path, seconds: float) -> dict[str, float]:
    wrk(url, bodies["one"], lua, 4, 2)  # warm-up
    out: dict[str, float] = {}
    for mix, body in bodies.items():
        c1 = wrk(url, body, lua, 1, seconds)
        cpu = cpu_seconds(url)
        c16 = wrk(url, body, lua, 16, seconds)
        cpu = cpu_seconds(url) - cpu
        prefix = "" if mix == "one" else f"{mix}_"
        out |= {
            f"{prefix}c1_p50_ms": c1["p50_ms"],
            f"{prefix}c16_rps": c16["rps"],
            f"{prefix}c16_p99_ms": c16["p99_ms"],
            # what a request costs whatever the machine's load: the server's CPU time over its requests
            f"{prefix}c16_cpu_ms_per_request": 1000 * cpu / max(1, c16["requests"]),
            f"{prefix}errors": c1["errors"] + c16["errors"],
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=float, default=8.0, help="seconds per wrk run")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    from loopwright.llm.embeddings import model_path

    work = Path(tempfile.mkdtemp(prefix="lw-bench-embeddings-"))
    env = {**os.environ, "LOOPWRIGHT_HOME": str(work / "home")}
    lua = work / "post.lua"
    lua.write_text(MIX_LUA)
    ours: dict[str, Path] = {}
    theirs: dict[str, Path] = {}
    for mix, texts in {"one": [SENTENCE], "mixed": mixed_texts()}.items():
        ours[mix], theirs[mix] = work / f"openai-{mix}.jsonl", work / f"mlflow-{mix}.jsonl"
        ours[mix].write_text(
            "".join(json.dumps({"model": "all-MiniLM-L6-v2", "input": t}) + "\n" for t in texts)
        )
        theirs[mix].write_text("".join(json.dumps({"inputs": [t]}) + "\n" for t in texts))

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
    mixed_throughput = _compare.ratios(pairs, "mixed_c16_rps", b_over_a=False)
    mixed_p99 = _compare.ratios(pairs, "mixed_c16_p99_ms")
    cpu = _compare.ratios(pairs, "c16_cpu_ms_per_request")  # MLflow's CPU per request over ours
    mixed_cpu = _compare.ratios(pairs, "mixed_c16_cpu_ms_per_request")
    result: dict[str, Any] = {
        "benchmark": "embeddings",
        "duration_s": args.duration,
        "repeats": args.repeats,
        **_compare.environment("mlflow"),
        "pairs": pairs,
        **_compare.side_by_side(pairs, ("loopwright", "mlflow")),
        "ratios": {
            "c16_rps_loopwright_over_mlflow": throughput,
            "c16_p99_mlflow_over_loopwright": p99,
            "mixed_c16_rps_loopwright_over_mlflow": mixed_throughput,
            "mixed_c16_p99_mlflow_over_loopwright": mixed_p99,
            "c16_cpu_per_request_mlflow_over_loopwright": cpu,
            "mixed_c16_cpu_per_request_mlflow_over_loopwright": mixed_cpu,
        },
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
