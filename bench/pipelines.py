"""Pipeline overhead per step, measured as a user meets it: a fresh process per pipeline run.

Loopwright: ``python -c "import chain_N; chain_N.chain.run()"`` (a module holding a chain of N trivial
``@step`` calls, local executor, SQLite store, a fresh ``LOOPWRIGHT_HOME`` per repeat), then the same
command again (every step a cache hit). Metaflow (its own venv, ``bench/.venv-metaflow``): ``python
flow_N.py run`` on the same linear chain of N steps, then ``python flow_N.py resume end`` (Metaflow has
no content cache; ``resume`` clones the earlier steps, its nearest equivalent of a cached rerun). Each
is timed as the wall time of the whole process, interpreter start and imports included.

Per-step overhead, the same formula on both sides: (wall of the 20-step chain - wall of the 2-step
chain) / 18; start-up, imports and store creation cancel out. (2 steps because Metaflow's smallest
flow is ``start`` -> ``end``.) The two tools run interleaved, A B A B A B (``bench/_compare.py``);
each ratio is per pair, reported as median and min-max.

Also reported, Loopwright alone: the warm in-process overhead (20-step chain minus the same 20 plain
calls, / 20), the figure the issue's targets (cached <= 5 ms/step, uncached <= 20 ms/step) are set for.

Run: ``.venv/bin/python bench/pipelines.py [--repeats 3] [--no-reference]``. Prints JSON.
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
from typing import Any

import loopwright as lw
from loopwright import pipeline, step

STEPS = 20
SHORT = 2  # Metaflow's smallest flow: start -> end
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import _compare  # noqa: E402
import refenv  # noqa: E402


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
    """Warm, in-process: the chain's wall time minus the same 20 plain calls."""
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


LOOPWRIGHT_CHAIN = """
from loopwright import pipeline, step


@step
def inc(x: int) -> int:
    return x + 1


@pipeline
def chain(x: int = 0):
    for _ in range({steps}):
        x = inc(x)
    return x
"""

METAFLOW_FLOW = """
from metaflow import FlowSpec, step


class ChainFlow(FlowSpec):
    @step
    def start(self):
        self.x = 0
        self.next(self.{first})
{middle}
    @step
    def end(self):
        self.x += 1


if __name__ == "__main__":
    ChainFlow()
"""


def metaflow_source(steps: int) -> str:
    """A linear flow of ``steps`` steps: start, s1 ... s{steps - 2}, end."""
    middle = []
    for i in range(1, steps - 1):
        nxt = f"s{i + 1}" if i < steps - 2 else "end"
        middle.append(
            f"\n    @step\n    def s{i}(self):\n        self.x += 1\n        self.next(self.{nxt})\n"
        )
    first = "s1" if steps > 2 else "end"
    return textwrap.dedent(METAFLOW_FLOW).format(middle="".join(middle), first=first)


def wall(command: list[str], env: dict[str, str], cwd: Path, marker: str | None = None) -> float:
    """Wall time of one fresh process; raises if it fails."""
    start = time.perf_counter()
    done = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    output = done.stderr + done.stdout
    if done.returncode != 0 or (marker is not None and marker not in output):
        raise RuntimeError(f"{command[1:]} failed: {output[-1500:]}")
    return seconds


def per_step(figures: dict[str, float], kind: str) -> float:
    """(wall of the 20-step chain - wall of the 2-step chain) / 18, in ms."""
    return (figures[f"{kind}_{STEPS}_s"] - figures[f"{kind}_{SHORT}_s"]) / (STEPS - SHORT) * 1000


def loopwright_processes(folder: Path) -> dict[str, float]:
    """One repeat: cold and cached runs of the 2- and 20-step chains, each a fresh process."""
    out: dict[str, float] = {}
    for steps in (SHORT, STEPS):
        work = folder / f"lw-{steps}"
        work.mkdir(parents=True)
        (work / f"chain_{steps}.py").write_text(LOOPWRIGHT_CHAIN.format(steps=steps))
        env = {**os.environ, "LOOPWRIGHT_HOME": str(work / "home")}
        code = f"import chain_{steps}; chain_{steps}.chain.run()"
        out[f"cold_{steps}_s"] = wall([sys.executable, "-c", code], env, work)
        out[f"cached_{steps}_s"] = wall([sys.executable, "-c", code], env, work)
    out["cold_per_step_ms"] = per_step(out, "cold")
    out["cached_per_step_ms"] = per_step(out, "cached")
    return out


def metaflow_processes(python: Path, folder: Path) -> dict[str, float]:
    """One repeat: ``run`` and ``resume end`` of the 2- and 20-step flows, each a fresh process."""
    out: dict[str, float] = {}
    for steps in (SHORT, STEPS):
        work = folder / f"mf-{steps}"
        work.mkdir(parents=True)
        flow = work / f"flow_{steps}.py"
        flow.write_text(metaflow_source(steps))
        env = {
            **{k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")},
            "METAFLOW_HOME": str(work),
            "METAFLOW_DATASTORE_SYSROOT_LOCAL": str(work),
            "METAFLOW_DEFAULT_METADATA": "local",
            "METAFLOW_DEFAULT_DATASTORE": "local",
            "USERNAME": "bench",
        }
        out[f"cold_{steps}_s"] = wall([str(python), str(flow), "run"], env, work, "Done!")
        out[f"cached_{steps}_s"] = wall([str(python), str(flow), "resume", "end"], env, work, "Done!")
    out["cold_per_step_ms"] = per_step(out, "cold")
    out["cached_per_step_ms"] = per_step(out, "cached")
    return out


def compare(repeats: int) -> dict[str, Any]:
    """Interleaved repeats of both tools; ratios are Metaflow / Loopwright per pair."""
    python = refenv.ensure("metaflow")
    with tempfile.TemporaryDirectory(prefix="bench-pipelines-") as tmp:
        rounds = iter(range(10 * repeats))
        pairs = _compare.interleave(
            lambda: loopwright_processes(Path(tmp) / f"r{next(rounds)}"),
            lambda: metaflow_processes(python, Path(tmp) / f"r{next(rounds)}"),
            repeats,
        )
    return {
        "median": _compare.side_by_side(pairs, ("loopwright", "metaflow")),
        "ratio_cold_per_step": _compare.ratios(pairs, "cold_per_step_ms", digits=1),
        "ratio_cached_per_step": _compare.ratios(pairs, "cached_per_step_ms", digits=1),
        "ratio_cold_20_step_process": _compare.ratios(pairs, f"cold_{STEPS}_s", digits=2),
        "ratio_cached_20_step_process": _compare.ratios(pairs, f"cached_{STEPS}_s", digits=2),
        "pairs": pairs,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-reference", action="store_true", help="skip Metaflow")
    args = parser.parse_args()
    out: dict[str, object] = {
        "benchmark": "pipelines: linear chains of trivial steps, local executor, SQLite store",
        "steps": [SHORT, STEPS],
        "repeats": args.repeats,
        **_compare.environment(*(() if args.no_reference else ("metaflow",))),
    }
    if not args.no_reference:
        out["fresh_processes"] = compare(args.repeats)
    ours = measure_loopwright(max(args.repeats, 5))
    out["loopwright_in_process_warm"] = ours
    out["targets_ms"] = {"cached_per_step": 5.0, "uncached_per_step": 20.0}
    out["meets_targets_in_process"] = (
        ours["cached_overhead_per_step_ms"] <= 5.0 and ours["cold_overhead_per_step_ms"] <= 20.0
    )
    print(json.dumps(_compare.finish(out), indent=2))


if __name__ == "__main__":
    main()
