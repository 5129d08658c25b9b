"""Tracking benchmark: Loopwright vs MLflow (its own venv), same machine, same run, SQLite stores.

Workloads: 2,000 single log_metric calls (``--single``); 20,000 points via batch logging; 200 runs
(``--runs``) with 10 params and 10 metrics each; a filtered search_runs over them, compared output for output: Loopwright's
``search_runs()`` DataFrame against ``mlflow.search_runs`` (DataFrame), and Loopwright's
``search_runs(output="list")`` against ``MlflowClient().search_runs`` (a list of Run entities); and
(Loopwright alone) search_runs over 100,000 runs.

Each side runs in a fresh process per repeat (imports and schema creation not timed on either side),
the two interleaved A B A B A B (``bench/_compare.py``). Prints JSON with both tools' median rates, the
per-pair ratios (Loopwright rate / MLflow rate, higher is better) with median and min-max, the
versions on both sides and the load average.

    .venv/bin/python bench/tracking.py [--repeats 3] [--big-runs 100000]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import _compare  # noqa: E402
import refenv  # noqa: E402

SEARCH_FILTER = "metrics.m0 > 0.5 and params.p0 = 'v1'"
SEARCH_REPEAT = 20


def bench_loopwright(home: Path, single: int, runs: int) -> dict[str, float]:
    os.environ["LOOPWRIGHT_HOME"] = str(home)
    import loopwright as lw

    lw.set_experiment("bench")
    out: dict[str, float] = {}
    with lw.start_run(name="single"):
        start = time.perf_counter()
        for i in range(single):
            lw.log_metric("loss", 1.0 / (i + 1), step=i)
        out["single_log_metric_call_s"] = time.perf_counter() - start
        lw.flush()
        out["single_log_metric_durable_s"] = time.perf_counter() - start
    with lw.start_run(name="batch") as run:
        start = time.perf_counter()
        for batch in range(20):
            now = int(time.time() * 1000)
            points = [lw.MetricPoint(f"m{i % 10}", float(i), batch * 1000 + i, now) for i in range(1000)]
            lw.get_client().log_batch(run.id, points)
        lw.flush()
        out["batch_20k_s"] = time.perf_counter() - start
    start = time.perf_counter()
    for r in range(runs):
        with lw.start_run(name=f"run{r}"):
            lw.log_params({f"p{k}": f"v{(r + k) % 3}" for k in range(10)})
            lw.log_metrics({f"m{k}": random.random() for k in range(10)})
    out["create_runs_s"] = time.perf_counter() - start
    for output in ("frame", "list"):
        start = time.perf_counter()
        for _ in range(SEARCH_REPEAT):
            found = lw.search_runs(
                experiment="bench", filter=SEARCH_FILTER, order_by=["metrics.m0 DESC"], output=output
            )
        out[f"search_{output}_s"] = (time.perf_counter() - start) / SEARCH_REPEAT
        out[f"search_{output}_hits"] = len(found)
    lw.reset_clients()
    return out


def loopwright_child(home: Path, single: int, runs: int) -> dict[str, float]:
    """One repeat of Loopwright's side in a fresh process (as MLflow's side is)."""
    command = [sys.executable, Path(__file__), "--child", home, "--single", str(single), "--runs", str(runs)]
    return _compare.child_json(command, check=False)


def bench_mlflow(home: Path, single: int, runs: int) -> dict[str, float]:
    python = refenv.ensure("mlflow")
    script = HERE / "_mlflow_tracking.py"
    home.mkdir(parents=True, exist_ok=True)
    return _compare.child_json(
        [python, script, home / "mlflow.db", SEARCH_FILTER, str(SEARCH_REPEAT), str(single), str(runs)],
        cwd=home,
    )


def populate_big(home: Path, runs: int) -> str:
    """Insert ``runs`` runs with 10 params and 10 metrics each in bulk (setup, not measured)."""

    import loopwright as lw
    from loopwright.store.entities import now_ms
    from loopwright.store.sql import tables as t

    os.environ["LOOPWRIGHT_HOME"] = str(home)
    experiment = lw.set_experiment("big")
    store = lw.get_client().store
    engine = store.engine  # type: ignore[attr-defined]
    rng = random.Random(0)
    base = now_ms()
    with engine.begin() as conn:
        for chunk in range(0, runs, 5000):
            ids = [uuid.uuid4().hex for _ in range(min(5000, runs - chunk))]
            conn.execute(
                t.runs.insert(),
                [
                    {
                        "id": rid,
                        "experiment_id": experiment.id,
                        "name": f"r{chunk + i}",
                        "status": "finished",
                        "start_ms": base + chunk + i,
                        "end_ms": base + chunk + i + 1,
                    }
                    for i, rid in enumerate(ids)
                ],
            )
            conn.execute(
                t.params.insert(),
                [
                    {"run_id": rid, "key": f"p{k}", "value": f"v{rng.randrange(3)}"}
                    for rid in ids
                    for k in range(10)
                ],
            )
            rows = [
                {"run_id": rid, "key": f"m{k}", "value": rng.random(), "step": 0, "timestamp_ms": base}
                for rid in ids
                for k in range(10)
            ]
            conn.execute(t.metrics.insert(), rows)
            conn.execute(t.latest_metrics.insert(), rows)
    with engine.connect() as conn:
        conn.exec_driver_sql("ANALYZE")
    return experiment.name


def bench_big_search(home: Path, runs: int) -> dict[str, float]:
    import loopwright as lw

    start = time.perf_counter()
    name = populate_big(home, runs)
    setup = time.perf_counter() - start
    lw.reset_clients()
    timings = []
    for _ in range(5):
        start = time.perf_counter()
        found = lw.search_runs(
            experiment=name,
            filter=SEARCH_FILTER,
            order_by=["metrics.m0 DESC"],
            max_results=100,
            output="list",
        )
        timings.append(time.perf_counter() - start)
    assert len(found) == 100
    return {
        "runs": runs,
        "setup_s": setup,
        "search_first_s": timings[0],
        "search_median_s": sorted(timings)[2],
    }


# figure: (Loopwright key, MLflow key, work units); the rate ratio is MLflow seconds / Loopwright seconds
def rate_keys(single: int, runs: int) -> dict[str, tuple[str, str, int]]:
    return {
        "single_log_metric_durable_per_s": ("single_log_metric_durable_s", "single_log_metric_s", single),
        "single_log_metric_call_per_s": ("single_log_metric_call_s", "single_log_metric_s", single),
        "batch_points_per_s": ("batch_20k_s", "batch_20k_s", 20000),
        "runs_created_per_s": ("create_runs_s", "create_runs_s", runs),
        "search_frame_per_s": ("search_frame_s", "search_frame_s", 1),
        "search_list_per_s": ("search_list_s", "search_list_s", 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--big-runs", type=int, default=100_000, help="0 skips the 100k-run search")
    parser.add_argument("--single", type=int, default=2000, help="single log_metric calls")
    parser.add_argument("--runs", type=int, default=200, help="runs created, then searched")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(bench_loopwright(args.child, args.single, args.runs)))
        return
    result = {
        "benchmark": "tracking",
        "repeats": args.repeats,
        "single_log_metric_calls": args.single,
        "runs": args.runs,
        **_compare.environment("mlflow"),
    }
    with tempfile.TemporaryDirectory() as tmp:
        homes = iter(range(10 * args.repeats))
        pairs = _compare.interleave(
            lambda: loopwright_child(Path(tmp) / f"lw{next(homes)}", args.single, args.runs),
            lambda: bench_mlflow(Path(tmp) / f"mlflow{next(homes)}", args.single, args.runs),
            args.repeats,
        )
        big = bench_big_search(Path(tmp) / "big", args.big_runs) if args.big_runs else None
    result["seconds_median"] = _compare.side_by_side(pairs, ("loopwright", "mlflow"))
    rates = {}
    for name, (ours, theirs, units) in rate_keys(args.single, args.runs).items():
        rates[name] = {
            "loopwright": round(units / statistics.median(a[ours] for a, _ in pairs), 1),
            "mlflow": round(units / statistics.median(b[theirs] for _, b in pairs), 1),
            "ratio": _compare.ratios(pairs, ours, theirs, digits=2),
        }
    result["rates"] = rates
    result["search_hits"] = {
        "loopwright": [a["search_frame_hits"] for a, _ in pairs],
        "mlflow": [b["search_frame_hits"] for _, b in pairs],
    }
    result["search_100k"] = big
    print(json.dumps(_compare.finish(result), indent=2))


if __name__ == "__main__":
    main()
