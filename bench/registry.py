"""Registry benchmark: Loopwright vs MLflow's model registry (its own venv), same run, SQLite stores.

Workloads: register 200 versions of one model from a run's package; move the ``champion`` alias 200
times; resolve ``champion`` 1,000 times (what every ``load_model("models:/churn@champion")`` does);
list the model's versions with ``search_model_versions("name = 'churn'")``. Loopwright's registration
also copies the package's artifact records and writes lineage and audit rows; its alias moves write
audit entries. MLflow registers with ``create_model_version`` (no package copy).
Prints JSON with both tools' rates and the ratios (Loopwright / MLflow, higher is better).

    .venv/bin/python bench/registry.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
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


def bench_mlflow(home: Path) -> dict[str, float]:
    python = refenv.ensure("mlflow")
    result = subprocess.run(
        [
            str(python),
            str(HERE / "_mlflow_registry.py"),
            str(home / "mlflow.db"),
            *map(str, (VERSIONS, MOVES, LOOKUPS, REPEAT)),
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=home,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    home = Path(tempfile.mkdtemp(prefix="lw-bench-registry-"))
    ours = bench_loopwright(home / "lw")
    theirs = bench_mlflow(home)
    rates = {
        "register_per_s": (VERSIONS / ours["register_s"], VERSIONS / theirs["register_s"]),
        "alias_moves_per_s": (MOVES / ours["alias_moves_s"], MOVES / theirs["alias_moves_s"]),
        "alias_lookups_per_s": (LOOKUPS / ours["alias_lookups_s"], LOOKUPS / theirs["alias_lookups_s"]),
        "search_200_versions_per_s": (1 / ours["search_s"], 1 / theirs["search_s"]),
    }
    report = {
        name: {"loopwright": round(a, 1), "mlflow": round(b, 1), "ratio": round(a / b, 2)}
        for name, (a, b) in rates.items()
    }
    report["search_hits"] = {"loopwright": ours["search_hits"], "mlflow": theirs["search_hits"]}
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
