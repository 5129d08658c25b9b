"""Model evaluation: ``lw.evaluate`` vs ``mlflow.models.evaluate`` on the same frame and model; metric kernels vs scikit-learn.

1. End to end, 200,000 rows x 10 features, a logistic regression: Loopwright's
   ``lw.evaluate(uri, data, target, slices=["region"])`` (every metric overall and for 8 slices,
   latency, run + artifacts + HTML report) against MLflow 3's default classifier evaluator (metrics
   and plots, overall only: it has no slices). Both load the registered/logged model from their
   store inside the timed call. The metric values of both are printed side by side.
2. The metric kernels alone on 1,000,000 rows: Loopwright's numpy metrics against the
   ``sklearn.metrics`` calls that give the same numbers (same process, same arrays).

Usage: ``python bench/evaluate.py [rows]`` (prints JSON).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

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
    out = subprocess.run(
        [str(refenv.ensure("mlflow")), str(HERE / "_mlflow_evaluate.py"), str(rows)],
        capture_output=True,
        text=True,
        check=True,
        timeout=1800,
        cwd=HERE,
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def kernels(rows: int = 1_000_000, repeats: int = 3) -> dict[str, Any]:
    from sklearn import metrics as skm

    from loopwright.evaluation.metrics import classification_metrics

    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, rows)
    p1 = np.clip(0.3 * y + 0.7 * rng.random(rows), 0, 1)
    proba = np.column_stack([1 - p1, p1])
    pred = (p1 > 0.5).astype(np.int64)

    def best(fn: Any) -> float:
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            fn()
            times.append(time.perf_counter() - started)
        return min(times)

    def reference() -> None:
        skm.accuracy_score(y, pred)
        skm.precision_score(y, pred)
        skm.recall_score(y, pred)
        skm.f1_score(y, pred)
        skm.roc_auc_score(y, p1)
        skm.average_precision_score(y, p1)
        skm.log_loss(y, proba)
        skm.brier_score_loss(y, p1)

    ours = best(lambda: classification_metrics(y, pred, proba, [0, 1]))
    theirs = best(reference)
    return {"rows": rows, "loopwright_s": ours, "sklearn_s": theirs, "ratio": round(ours / theirs, 3)}


def main() -> None:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else ROWS
    ours = loopwright_side(rows)
    theirs = mlflow_side(rows)
    print(
        json.dumps(
            {
                "rows": rows,
                "loopwright": ours,
                "mlflow": theirs,
                "ratio_seconds": round(ours["seconds"] / theirs["seconds"], 3),
                "kernels_1m_binary": kernels(),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
