"""Pipeline overhead per step: a 20-step chain of trivial steps, cold and fully cached.

Compared with the same chain as plain function calls, and with Metaflow (its own venv,
``bench/.venv-metaflow``) running the same 20-step linear flow: a cold ``run`` and a ``resume``
of the last step (Metaflow's nearest thing to a cache: it clones the 19 earlier steps).

Run: ``PYTHONPATH=src .venv/bin/python bench/pipelines.py [--repeats 5] [--no-reference]``.
Prints JSON. Targets on the local executor: cached ≤ 5 ms/step, uncached ≤ 20 ms/step.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import loopwright as lw
from loopwright import pipeline, step

STEPS = 20
HERE = Path(__file__).resolve().parent


@step
def inc(x: int) -> int:
    return x + 1


@pipeline
def chain(x: int = 0):
    for _ in range(STEPS):
        x = inc(x)
    return x


def plain(x: int) -> int:
    for _ in range(STEPS):
        x = inc.fn(x)
    return x


def timed(fn, *args, **kwargs) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    fn(*args, **kwargs)
    return time.perf_counter() - start


def measure_loopwright(repeats: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="lw-bench-pipelines-") as home:
        os.environ["LOOPWRIGHT_HOME"] = home
        lw.reset_clients()
        chain.run(x=-1)  # warm up: create the store, import everything
        cold, cached = [], []
        for i in range(repeats):
            x = 1_000_000 * (i + 1)  # far apart: no intermediate value was seen before
            start = time.perf_counter()
            result = chain.run(x=x)
            cold.append(time.perf_counter() - start)
            assert len(result.executed) == STEPS, "expected every step to miss the cache"
            start = time.perf_counter()
            result = chain.run(x=x)
            cached.append(time.perf_counter() - start)
            assert result.executed == [], "expected a fully cached rerun"
        plain_s = statistics.median(timed(plain, i) for i in range(max(repeats, 50)))
        lw.reset_clients()
        del os.environ["LOOPWRIGHT_HOME"]
    cold_s, cached_s = statistics.median(cold), statistics.median(cached)
    return {
        "plain_chain_s": plain_s,
        "cold_chain_s": cold_s,
        "cached_chain_s": cached_s,
        "cold_overhead_per_step_ms": (cold_s - plain_s) / STEPS * 1000,
        "cached_overhead_per_step_ms": (cached_s - plain_s) / STEPS * 1000,
    }


METAFLOW_FLOW = """
from metaflow import FlowSpec, step


class ChainFlow(FlowSpec):
    @step
    def start(self):
        self.x = 0
        self.next(self.s1)
{middle}
    @step
    def end(self):
        self.x += 1


if __name__ == "__main__":
    ChainFlow()
"""


def metaflow_source() -> str:
    middle = []
    for i in range(1, STEPS - 1):
        nxt = f"s{i + 1}" if i < STEPS - 2 else "end"
        middle.append(
            f"\n    @step\n    def s{i}(self):\n        self.x += 1\n        self.next(self.{nxt})\n"
        )
    return textwrap.dedent(METAFLOW_FLOW).format(middle="".join(middle))


def measure_metaflow(repeats: int) -> dict[str, float | str] | None:
    sys.path.insert(0, str(HERE))
    from refenv import ensure

    try:
        python = ensure("metaflow")
    except subprocess.CalledProcessError as exc:
        return {"error": f"metaflow did not install: {exc}"}
    version = subprocess.run(
        [str(python), "-c", "import metaflow; print(metaflow.__version__)"], capture_output=True, text=True
    ).stdout.strip()
    cold, resumed = [], []
    with tempfile.TemporaryDirectory(prefix="mf-bench-") as folder:
        flow = Path(folder) / "chain_flow.py"
        flow.write_text(metaflow_source())
        env = {
            **os.environ,
            "METAFLOW_HOME": folder,
            "METAFLOW_DATASTORE_SYSROOT_LOCAL": folder,
            "METAFLOW_DEFAULT_METADATA": "local",
            "METAFLOW_DEFAULT_DATASTORE": "local",
            "USERNAME": "bench",
        }
        for _ in range(repeats):
            for label, args, sink in (("run", ["run"], cold), ("resume", ["resume", "end"], resumed)):
                start = time.perf_counter()
                done = subprocess.run(
                    [str(python), str(flow), *args],
                    env=env,
                    cwd=folder,
                    capture_output=True,
                    text=True,
                )
                sink.append(time.perf_counter() - start)
                if done.returncode != 0 or "Done!" not in done.stderr + done.stdout:
                    return {"error": f"metaflow {label} failed: {(done.stderr + done.stdout)[-500:]}"}
    cold_s, resumed_s = statistics.median(cold), statistics.median(resumed)
    return {
        "version": version,
        "cold_chain_s": cold_s,
        "resume_last_step_s": resumed_s,
        "cold_overhead_per_step_ms": cold_s / STEPS * 1000,
        "resume_overhead_per_step_ms": resumed_s / STEPS * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-reference", action="store_true", help="skip Metaflow")
    args = parser.parse_args()
    ours = measure_loopwright(args.repeats)
    out: dict[str, object] = {
        "benchmark": "pipelines: 20-step chain of trivial steps, local executor, SQLite store",
        "steps": STEPS,
        "repeats": args.repeats,
        "loopwright": ours,
        "targets_ms": {"cached_per_step": 5.0, "uncached_per_step": 20.0},
        "meets_targets": ours["cached_overhead_per_step_ms"] <= 5.0
        and ours["cold_overhead_per_step_ms"] <= 20.0,
    }
    if not args.no_reference:
        reference = measure_metaflow(max(1, min(args.repeats, 3)))
        out["metaflow"] = reference
        if reference and "error" not in reference:
            out["ratios"] = {
                "metaflow_cold_over_loopwright_cold": float(reference["cold_chain_s"]) / ours["cold_chain_s"],  # type: ignore[arg-type]
                "metaflow_resume_over_loopwright_cached": float(reference["resume_last_step_s"])  # type: ignore[arg-type]
                / ours["cached_chain_s"],
            }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
