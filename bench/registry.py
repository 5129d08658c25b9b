"""Registry benchmark: Loopwright vs MLflow's model registry (its own venv), same run, SQLite stores.

Workloads: register 200 versions of one model from a run's package; move the ``champion`` alias 200
times; resolve ``champion`` 1,000 times (what every ``load_model("models:/churn@champion")`` does);
list the model's versions with ``search_model_versions("name = 'churn'")``. Loopwright's registration
also copies the package's artifact records and writes lineage and audit rows; its alias moves write
audit entries. MLflow registers with ``create_model_version`` (no package copy).
Each side runs in a fresh process per repeat (imports and schema creation not timed on either side),
the two interleaved A B A B A B (``bench/_compare.py``). Prints JSON with both tools' median rates, the
per-pair ratios (Loopwright rate / MLflow rate, higher is better) with median and min-max, the
versions on both sides and the load average.

    .venv/bin/python bench/registry.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import _compare  # noqa: E402
import refenv  # noqa: E402

VERSIONS, MOVES, LOOKUPS, REPEAT = 200, 200, 1000, 20


def bench_loopwright(home: Path) -> dict[str, float]:
    os.environ["LOOPWRIGHT_HOME"] = str(home)
    import loopwright as lw

    lw.set_experiment("bench")
    with lw.start_run() as run:  # not timed: a run holding a package as log_model leaves it
        lw.log_text("w" * 1000, "model/weights.bin")
        lw.log_dict({"flavor": "bench"}, "model/manifest.json")
    source = f"runs:/{run.id}/model"
    out: dict[str, float] = {}
    start = time.perf_counter()
    for _ in range(VERSIONS):
        lw.register_model(source, "churn")
    out["register_s"] = time.perf_counter() - start
    start = time.perf_counter()
    for i in range(MOVES):
        lw.set_alias("churn", "champion", 1 + i % VERSIONS)
    out["alias_moves_s"] = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(LOOKUPS):
        lw.get_model_version_by_alias("churn", "champion")
    out["alias_lookups_s"] = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(REPEAT):
        found = lw.search_model_versions("name = 'churn'")
    out["search_s"] = (time.perf_counter() - start) / REPEAT
    out["search_hits"] = len(found)
    lw.reset_clients()
    return out


def loopwright_child(home: Path) -> dict[str, float]:
    """One repeat of Loopwright's side in a fresh process (as MLflow's side is)."""
    return _compare.child_json([sys.executable, Path(__file__), "--child", home])


def bench_mlflow(home: Path) -> dict[str, float]:
    python = refenv.ensure("mlflow")
    home.mkdir(parents=True, exist_ok=True)
    counts = map(str, (VERSIONS, MOVES, LOOKUPS, REPEAT))
    return _compare.child_json([python, HERE / "_mlflow_registry.py", home / "mlflow.db", *counts], cwd=home)


# figure: (seconds key, work units); the rate ratio is MLflow seconds / Loopwright seconds
RATES = {
    "register_per_s": ("register_s", VERSIONS),
    "alias_moves_per_s": ("alias_moves_s", MOVES),
    "alias_lookups_per_s": ("alias_lookups_s", LOOKUPS),
    "search_200_versions_per_s": ("search_s", 1),
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(bench_loopwright(args.child)))
        return
    report: dict[str, object] = {"benchmark": "registry", "repeats": args.repeats}
    report.update(_compare.environment("mlflow"))
    home = Path(tempfile.mkdtemp(prefix="lw-bench-registry-"))
    homes = iter(range(10 * args.repeats))
    pairs = _compare.interleave(
        lambda: loopwright_child(home / f"lw{next(homes)}"),
        lambda: bench_mlflow(home / f"mlflow{next(homes)}"),
        args.repeats,
    )
    for name, (key, units) in RATES.items():
        report[name] = {
            "loopwright": round(units / statistics.median(a[key] for a, _ in pairs), 1),
            "mlflow": round(units / statistics.median(b[key] for _, b in pairs), 1),
            "ratio": _compare.ratios(pairs, key, digits=2),
        }
    report["search_hits"] = {"loopwright": pairs[0][0]["search_hits"], "mlflow": pairs[0][1]["search_hits"]}
    print(json.dumps(_compare.finish(report), indent=2))


if __name__ == "__main__":
    main()
