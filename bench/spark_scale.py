"""Issue 17 item 5 — Spark at size: ``loopwright spark score`` vs MLflow's ``mlflow.pyfunc.spark_udf``.

10,000,000 rows of 10 float64 features (``bench/_spark_data.py``: Parquet, 10 files, written once under
``--data``) scored by one model — ``StandardScaler`` + ``LogisticRegression``, trained identically on
both sides — on ``local[2]``, predictions written as Parquet:

* Loopwright: the model logged with ``lw.log_model`` and registered; each repeat is one
  ``loopwright spark score models:/spark-bench/1 -i DATA -o OUT --master local[2]`` process.
* MLflow 3.17.2 (``bench/.venv-mlflow-spark``: the same PySpark, pandas < 3): the model saved with
  ``mlflow.sklearn.save_model``; each repeat is one process (``_mlflow_spark.py``) that builds its
  session with exactly the configuration the CLI uses (``loopwright.cli.spark.SESSION_CONF``), appends
  ``spark_udf(spark, model, env_manager="local")`` over the feature columns and writes Parquet.

Both are timed as whole processes (Spark start-up included, ~10 s of it), interleaved A B A B;
rows/s = rows ÷ seconds, and the ratio is per pair. The summed predictions of both outputs must agree
(same model, same rows). Run with the Spark venv (it has pyspark and pandas < 3)::

    .venv-spark/bin/python bench/spark_scale.py --rows 10000000 --repeats 2 \\
        --out bench/results/spark-scale.json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import _compare  # noqa: E402
import _spark_data  # noqa: E402
import refenv  # noqa: E402

MODEL = "spark-bench"
MASTER = "local[2]"


def setup_loopwright(home: Path) -> str:
    """Log and register the model in a store of its own under ``home``; the models:/ URI."""
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); import loopwright as lw; from _spark_data import train; "
        "model, X = train(); run = lw.start_run(); lw.log_model(model, 'model', input_example=X.head(5)); "
        f"lw.end_run(); lw.register_model(f'runs:/{{run.id}}/model', '{MODEL}')"
    )
    if not (home / "registered").exists():
        subprocess.run([sys.executable, "-c", code, str(HERE)], check=True, env=_env(home))
        (home / "registered").touch()
    return f"models:/{MODEL}/1"


def _env(home: Path) -> dict[str, str]:
    return {
        **os.environ,
        "LOOPWRIGHT_HOME": str(home),
        "LOOPWRIGHT_STORE_URI": "",
        "LOOPWRIGHT_ARTIFACT_URI": "",
    }


def _predicted_sum(output: Path) -> int:
    import pyarrow.dataset as ds

    table = ds.dataset(output, format="parquet").to_table(columns=["prediction"])
    return int(table.column("prediction").to_numpy().sum())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--data", type=Path, default=Path("/tmp/lw-spark-bench"))
    parser.add_argument("--out", type=Path, default=HERE / "results" / "spark-scale.json")
    args = parser.parse_args()

    from loopwright.cli.spark import SESSION_CONF

    data = _spark_data.ensure_data(args.data, args.rows)
    home = args.data / "lw-home"
    uri = setup_loopwright(home)
    python = refenv.ensure("mlflow-spark")
    mlflow_model = args.data / "mlflow-model"
    ref_env = {
        k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYSPARK_PYTHON")
    }
    if not mlflow_model.exists():
        _compare.child_json([python, HERE / "_mlflow_spark.py", "save", mlflow_model], env=ref_env)
    outputs = args.data / "outputs"
    shutil.rmtree(outputs, ignore_errors=True)
    outputs.mkdir()
    cli = Path(sys.executable).parent / "loopwright"
    sums: dict[str, int] = {}

    def ours() -> dict[str, Any]:
        out = outputs / f"lw-{time.monotonic_ns()}"
        started = time.perf_counter()
        subprocess.run(
            [cli, "spark", "score", uri, "-i", data, "-o", out, "--master", MASTER],
            check=True,
            env=_env(home),
            stdout=subprocess.DEVNULL,
        )
        seconds = time.perf_counter() - started
        sums["loopwright"] = _predicted_sum(out)
        shutil.rmtree(out)
        return {"seconds": round(seconds, 2), "rows_per_s": round(args.rows / seconds)}

    def theirs() -> dict[str, Any]:
        out = outputs / f"mlflow-{time.monotonic_ns()}"
        started = time.perf_counter()
        command = [python, HERE / "_mlflow_spark.py", "score", mlflow_model, data, out, MASTER]
        figures = _compare.child_json([*command, json.dumps(SESSION_CONF)], env=ref_env, cwd=args.data)
        seconds = time.perf_counter() - started
        assert figures["rows"] == args.rows, figures
        sums["mlflow"] = _predicted_sum(out)
        shutil.rmtree(out)
        return {**figures, "seconds": round(seconds, 2), "rows_per_s": round(args.rows / seconds)}

    result: dict[str, Any] = {
        "rows": args.rows,
        "model": "StandardScaler + LogisticRegression (10 float64 features)",
        "master": MASTER,
        "session_conf": SESSION_CONF,
        "environment": _compare.environment("mlflow-spark"),
    }
    pairs = _compare.interleave(ours, theirs, args.repeats)
    result["pairs"] = pairs
    result["predictions_agree"] = sums["loopwright"] == sums["mlflow"]
    result["predicted_positives"] = sums
    result["medians"] = _compare.side_by_side(pairs, ("loopwright", "mlflow"))
    result["speedup_rows_per_s"] = _compare.ratios(pairs, "seconds")  # MLflow seconds ÷ ours
    result = _compare.finish(result)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(
        json.dumps({k: result[k] for k in ("medians", "speedup_rows_per_s", "predictions_agree")}, indent=2)
    )


if __name__ == "__main__":
    main()
