"""Model evaluation: ``lw.evaluate`` vs ``mlflow.models.evaluate`` on the same frame and model; metric kernels vs scikit-learn.

1. End to end, 200,000 rows x 10 features, a logistic regression: Loopwright's
   ``lw.evaluate(uri, data, target, slices=["region"])`` (every metric overall and for 8 slices,
   latency, run + artifacts + HTML report) against MLflow 3's default classifier evaluator (metrics
   and plots, overall only: it has no slices). Both load the registered/logged model from their
   store inside the timed call. The metric values of both are printed side by side.
2. The metric kernels alone on 1,000,000 rows: Loopwright's numpy metrics against the
   ``sklearn.metrics`` calls that give the same numbers (same process, same arrays).

Each side runs in a fresh process per repeat, the two interleaved A B A B A B (``bench/_compare.py``);
the kernels too (same process, A B A B A B). Ratios (Loopwright / reference seconds, lower is better) are
per pair, reported as median and min-max, with versions and load average.

Usage: ``python bench/evaluate.py [rows] [--repeats 3]`` (prints JSON).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import _compare  # noqa: E402
import refenv  # noqa: E402
from _eval_data import FEATURES, ROWS, frame, model  # noqa: E402


def loopwright_side(rows: int) -> dict[str, Any]:
    os.environ["LOOPWRIGHT_HOME"] = tempfile.mkdtemp(prefix="lw-bench-")
    import loopwright as lw

    data = frame(rows)
    with lw.start_run() as run:
        lw.log_model(model(data), "model", input_example=data[FEATURES].head())
    lw.register_model(f"runs:/{run.id}/model", "bench")
    lw.get_client().flush()
    started = time.perf_counter()
    result = lw.evaluate("models:/bench/1", data=data, target="y", slices=["region"])
    seconds = time.perf_counter() - started
    return {
        "tool": f"loopwright {lw.__version__}",
        "seconds": seconds,
        "slices": len(result.slices),
        "report_bytes": result.report_path.stat().st_size,
        "metrics": {
            k: result.metrics[k] for k in ("accuracy", "roc_auc", "precision", "recall", "f1", "log_loss")
        },
    }


def mlflow_side(rows: int) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    command = [refenv.ensure("mlflow"), HERE / "_mlflow_evaluate.py", str(rows)]
    return _compare.child_json(command, timeout=1800, cwd=HERE, env=env)


def kernels(rows: int = 1_000_000, repeats: int = 3) -> dict[str, Any]:
    """Both kernels on the same arrays, A B A B A B; per pair the ratio Loopwright / scikit-learn."""
    from sklearn import metrics as skm

    from loopwright.evaluation.metrics import classification_metrics

    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, rows)
    p1 = np.clip(0.3 * y + 0.7 * rng.random(rows), 0, 1)
    proba = np.column_stack([1 - p1, p1])
    pred = (p1 > 0.5).astype(np.int64)

    def seconds(fn: Any) -> dict[str, float]:
        started = time.perf_counter()
        fn()
        return {"seconds": time.perf_counter() - started}

    def reference() -> None:
        skm.accuracy_score(y, pred)
        skm.precision_score(y, pred)
        skm.recall_score(y, pred)
        skm.f1_score(y, pred)
        skm.roc_auc_score(y, p1)
        skm.average_precision_score(y, p1)
        skm.log_loss(y, proba)
        skm.brier_score_loss(y, p1)

    pairs = _compare.interleave(
        lambda: seconds(lambda: classification_metrics(y, pred, proba, [0, 1])),
        lambda: seconds(reference),
        repeats,
    )
    return {
        "rows": rows,
        "repeats": repeats,
        "loopwright_s": [a["seconds"] for a, _ in pairs],
        "sklearn_s": [b["seconds"] for _, b in pairs],
        "ratio": _compare.ratios(pairs, "seconds", b_over_a=False),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("rows", type=int, nargs="?", default=ROWS)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(loopwright_side(args.rows)))
        return
    report: dict[str, Any] = {"benchmark": "evaluate", "rows": args.rows, "repeats": args.repeats}
    report.update(_compare.environment("mlflow"))
    child = [sys.executable, Path(__file__), str(args.rows), "--child"]
    pairs = _compare.interleave(
        lambda: _compare.child_json(child, timeout=1800), lambda: mlflow_side(args.rows), args.repeats
    )
    report["loopwright"] = {**pairs[-1][0], "seconds": [a["seconds"] for a, _ in pairs]}
    report["mlflow"] = {**pairs[-1][1], "seconds": [b["seconds"] for _, b in pairs]}
    report["ratio_seconds"] = _compare.ratios(pairs, "seconds", b_over_a=False)
    report["kernels_1m_binary"] = kernels(repeats=args.repeats)
    print(json.dumps(_compare.finish(report), indent=2))


if __name__ == "__main__":
    main()
