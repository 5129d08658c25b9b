"""Tracking benchmark: Loopwright vs MLflow (its own venv), same machine, same run, SQLite stores.

Workloads: 2,000 single log_metric calls; 20,000 points via batch logging; 200 runs with 10 params and
10 metrics each; a filtered search_runs over them; and (Loopwright alone) search_runs over 100,000 runs.
Prints JSON with both tools' rates and the ratios (Loopwright / MLflow, higher is better).

    .venv/bin/python bench/tracking.py [--big-runs 100000]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import refenv  # noqa: E402

SEARCH_FILTER = "metrics.m0 > 0.5 and params.p0 = 'v1'"
SEARCH_REPEAT = 20


def bench_loopwright(home: Path) -> dict[str, float]:
    os.environ["LOOPWRIGHT_HOME"] = str(home)
    import loopwright as lw

    lw.set_experiment("bench")
    out: dict[str, float] = {}
    with lw.start_run(name="single"):
        start = time.perf_counter()
        for i in range(2000):
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
    for r in range(200):
        with lw.start_run(name=f"run{r}"):
            lw.log_params({f"p{k}": f"v{(r + k) % 3}" for k in range(10)})
            lw.log_metrics({f"m{k}": random.random() for k in range(10)})
    out["create_200_runs_s"] = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(SEARCH_REPEAT):
        found = lw.search_runs(
            experiment="bench", filter=SEARCH_FILTER, order_by=["metrics.m0 DESC"], output="list"
        )
    out["search_200_s"] = (time.perf_counter() - start) / SEARCH_REPEAT
    out["search_200_hits"] = len(found)
    lw.reset_clients()
    return out


def bench_mlflow(home: Path) -> dict[str, float]:
    python = refenv.ensure("mlflow")
    script = HERE / "_mlflow_tracking.py"
    result = subprocess.run(
        [str(python), str(script), str(home / "mlflow.db"), SEARCH_FILTER, str(SEARCH_REPEAT)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--big-runs", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        lw_side = bench_loopwright(Path(tmp) / "lw")
        ml_side = bench_mlflow(Path(tmp))
        big = bench_big_search(Path(tmp) / "big", args.big_runs)
    rates = {
        "single_log_metric_per_s": (
            2000 / lw_side["single_log_metric_durable_s"],
            2000 / ml_side["single_log_metric_s"],
        ),
        "single_log_metric_call_per_s": (
            2000 / lw_side["single_log_metric_call_s"],
            2000 / ml_side["single_log_metric_s"],
        ),
        "batch_points_per_s": (20000 / lw_side["batch_20k_s"], 20000 / ml_side["batch_20k_s"]),
        "runs_created_per_s": (200 / lw_side["create_200_runs_s"], 200 / ml_side["create_200_runs_s"]),
        "searches_per_s": (1 / lw_side["search_200_s"], 1 / ml_side["search_200_s"]),
    }
    print(
        json.dumps(
            {
                "loopwright": lw_side,
                "mlflow": ml_side,
                "rates": {
                    k: {"loopwright": round(a, 1), "mlflow": round(b, 1), "ratio": round(a / b, 1)}
                    for k, (a, b) in rates.items()
                },
                "search_100k": big,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
