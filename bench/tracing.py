"""Tracing overhead: ``@lw.trace`` vs ``@mlflow.trace`` (MLflow 3.17.2 in its own venv), same run.

Each side, in a fresh process with its own SQLite store: a trivial function traced as an agent with
``SPANS - 1`` traced children per trace, called ``TRACES`` times. The overhead per span is (time with
tracing - time of the same calls untraced) / spans, on the caller's path; "durable" adds the time
until every trace is in the store (``lw.flush_traces()`` / MLflow's async-logging flush). Sides
interleave A B A B (``bench/_compare.py``); ratios are MLflow / Loopwright (higher is better).

    .venv/bin/python bench/tracing.py [--repeats 3] [--traces 500] [--spans 10]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import _compare  # noqa: E402
import refenv  # noqa: E402

# one body for both tools: `decorate(kind)` returns the tool's decorator for a span of that kind
WORKLOAD = """
def build(decorate):
    @decorate("tool")
    def tool(x):
        return x + 1

    @decorate("agent")
    def agent(x, children):
        for _ in range(children):
            x = tool(x)
        return x

    return agent


def plain_agent(x, children):
    def tool(x):
        return x + 1

    for _ in range(children):
        x = tool(x)
    return x
"""


def run_side(tool: str, home: Path, traces: int, spans: int) -> dict[str, float]:
    namespace: dict[str, object] = {}
    exec(WORKLOAD, namespace)  # our own benchmark body, the same for both tools
    if tool == "loopwright":
        os.environ["LOOPWRIGHT_HOME"] = str(home)
        import loopwright as lw

        agent = namespace["build"](lambda kind: lw.trace(kind=kind))  # type: ignore[operator]
        flush = lw.flush_traces
    else:
        import mlflow

        mlflow.set_tracking_uri(f"sqlite:///{home}/mlflow.db")
        mlflow.set_experiment("bench")
        agent = namespace["build"](lambda kind: mlflow.trace(span_type=kind.upper()))  # type: ignore[operator]

        def flush() -> None:
            mlflow.flush_trace_async_logging(terminate=False)

    plain = namespace["plain_agent"]
    agent(0, spans - 1)  # warm up: imports, schema, first export
    flush()
    start = time.perf_counter()
    for i in range(traces):
        plain(i, spans - 1)  # type: ignore[operator]
    untraced = time.perf_counter() - start
    start = time.perf_counter()
    for i in range(traces):
        agent(i, spans - 1)
    call_path = time.perf_counter() - start
    flush()
    durable = time.perf_counter() - start
    total = traces * spans
    return {
        "spans": total,
        "overhead_us_per_span": (call_path - untraced) / total * 1e6,
        "durable_us_per_span": (durable - untraced) / total * 1e6,
    }


def child(tool: str, traces: int, spans: int) -> dict[str, float]:
    python = sys.executable if tool == "loopwright" else str(refenv.ensure("mlflow"))
    with tempfile.TemporaryDirectory() as home:
        command = [
            python,
            Path(__file__),
            "--child",
            tool,
            "--home",
            home,
            "--traces",
            str(traces),
            "--spans",
            str(spans),
        ]
        return _compare.child_json(command, env={**os.environ, "PYTHONPATH": str(HERE)}, timeout=1800)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--traces", type=int, default=500)
    parser.add_argument("--spans", type=int, default=10)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--home", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_side(args.child, args.home, args.traces, args.spans)))
        return
    result = {
        "benchmark": "tracing",
        "traces": args.traces,
        "spans_per_trace": args.spans,
        **_compare.environment("mlflow"),
    }
    pairs = _compare.interleave(
        lambda: child("loopwright", args.traces, args.spans),
        lambda: child("mlflow", args.traces, args.spans),
        args.repeats,
    )
    result["medians"] = _compare.side_by_side(pairs, ("loopwright", "mlflow"))
    result["ratio_mlflow_over_loopwright"] = {
        key: _compare.ratios(pairs, key, digits=2) for key in ("overhead_us_per_span", "durable_us_per_span")
    }
    print(json.dumps(_compare.finish(result), indent=2))


if __name__ == "__main__":
    main()
