"""Load time and predict latency of a 100-tree random forest: Loopwright vs MLflow pyfunc.

Both sides train the same ``RandomForestClassifier(100, random_state=0)`` on the same generated
data (same scikit-learn version; a checksum of the probabilities proves it), store it with their
default log call, then time: loading the model (median of 9 loads), predicting one row
(median and p99 of 500 calls) and predicting 1,000 rows (median of 30 calls). MLflow runs in its
own venv (``bench/.venv-mlflow``) as a subprocess that prints JSON.

MLflow's side is ``mlflow.sklearn.log_model`` with its default serialisation (skops in MLflow 3),
which needs ``skops_trusted_types=["sklearn.tree._tree.Tree"]`` for trees, then
``mlflow.pyfunc.load_model``. Loopwright's is ``lw.log_model(..., onnx=True)`` then
``lw.load_model`` (scikit-learn path) and ``lw.load_model(prefer_onnx=True)`` (onnxruntime path).

Usage: ``python bench/load_predict.py`` → JSON on stdout.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

COMMON = """
import numpy as np
from sklearn.datasets import make_classification
from sklearn.ensemble import RandomForestClassifier

X, y = make_classification(n_samples=3000, n_features=20, n_informative=10, random_state=0)
forest = RandomForestClassifier(n_estimators=100, random_state=0).fit(X, y)
ROW = X[:1].copy()
BATCH = X[:1000].copy()
"""

TIMING = """
import statistics, time

def timed(fn, repeat):
    fn()  # first call outside the measurement (lazy init)
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    samples.sort()
    return {"median_ms": statistics.median(samples) * 1e3, "p99_ms": samples[int(0.99 * (len(samples) - 1))] * 1e3}
"""

MLFLOW_SIDE = (
    COMMON
    + TIMING
    + """
import json, os, sys, tempfile, warnings
warnings.filterwarnings("ignore")
import mlflow, mlflow.pyfunc, mlflow.sklearn

folder = tempfile.mkdtemp()
mlflow.set_tracking_uri(f"sqlite:///{folder}/mlflow.db")
with mlflow.start_run():
    info = mlflow.sklearn.log_model(
        forest, name="model", input_example=X[:5], skops_trusted_types=["sklearn.tree._tree.Tree"]
    )
loads = []
for _ in range(9):
    start = time.perf_counter()
    model = mlflow.pyfunc.load_model(info.model_uri)
    loads.append(time.perf_counter() - start)
proba_sum = float(forest.predict_proba(X[:100])[:, 1] @ np.arange(100))
same = bool((model.predict(X[:200]) == forest.predict(X[:200])).all())
print(json.dumps({
    "tool": f"mlflow {mlflow.__version__}",
    "serialization": "skops (mlflow.sklearn.log_model default), skops_trusted_types=['sklearn.tree._tree.Tree']",
    "load_ms": statistics.median(loads) * 1e3,
    "predict_1_row": timed(lambda: model.predict(ROW), 500),
    "predict_1000_rows": timed(lambda: model.predict(BATCH), 30),
    "checksum": proba_sum,
    "predictions_match_sklearn": same,
}))
"""
)


def timed(fn: Callable[[], Any], repeat: int) -> dict[str, float]:
    fn()
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    samples.sort()
    return {
        "median_ms": statistics.median(samples) * 1e3,
        "p99_ms": samples[int(0.99 * (len(samples) - 1))] * 1e3,
    }


def loopwright_side() -> dict[str, Any]:
    import numpy as np

    namespace: dict[str, Any] = {}
    exec(COMMON, namespace)
    X, forest, row, batch = namespace["X"], namespace["forest"], namespace["ROW"], namespace["BATCH"]
    home = tempfile.mkdtemp(prefix="lw-bench-")
    os.environ["LOOPWRIGHT_HOME"] = home
    import loopwright as lw

    with lw.start_run():
        info = lw.log_model(forest, "model", input_example=X[:5], onnx=True)
    results: dict[str, Any] = {
        "tool": f"loopwright {lw.__version__}",
        "serialization": "skops + ONNX companion",
    }
    for label, prefer_onnx in (("sklearn", False), ("onnx", True)):
        loads = []
        for _ in range(9):
            start = time.perf_counter()
            model = lw.load_model(info.uri, prefer_onnx=prefer_onnx)
            loads.append(time.perf_counter() - start)
        assert model.uses_onnx == prefer_onnx
        results[label] = {
            "load_ms": statistics.median(loads) * 1e3,
            "predict_1_row": timed(lambda m=model: m.predict(row), 500),
            "predict_1_row_validate_false": timed(lambda m=model: m.predict(row, validate=False), 500),
            "predict_1000_rows": timed(lambda m=model: m.predict(batch), 30),
            "predictions_match_sklearn": bool((model.predict(X[:200]) == forest.predict(X[:200])).all()),
        }
    results["checksum"] = float(forest.predict_proba(X[:100])[:, 1] @ np.arange(100))
    return results


def mlflow_side() -> dict[str, Any]:
    from refenv import ensure

    python = ensure("mlflow")
    out = subprocess.run(
        [str(python), "-c", MLFLOW_SIDE], capture_output=True, text=True, check=True, timeout=900
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def main() -> None:
    ours = loopwright_side()
    theirs = mlflow_side()
    if abs(ours["checksum"] - theirs["checksum"]) > 1e-9:
        raise SystemExit("the two sides trained different forests; check the scikit-learn versions")
    ref_row = theirs["predict_1_row"]["median_ms"]
    ratios = {
        "load_sklearn": ours["sklearn"]["load_ms"] / theirs["load_ms"],
        "load_onnx": ours["onnx"]["load_ms"] / theirs["load_ms"],
        "predict_1_row_sklearn": ours["sklearn"]["predict_1_row"]["median_ms"] / ref_row,
        "predict_1_row_onnx": ours["onnx"]["predict_1_row"]["median_ms"] / ref_row,
        "predict_1000_rows_sklearn": ours["sklearn"]["predict_1000_rows"]["median_ms"]
        / theirs["predict_1000_rows"]["median_ms"],
        "predict_1000_rows_onnx": ours["onnx"]["predict_1000_rows"]["median_ms"]
        / theirs["predict_1000_rows"]["median_ms"],
    }
    report = {
        "benchmark": "load_predict",
        "model": "RandomForestClassifier(n_estimators=100), 20 features, trained on 3,000 rows",
        "loopwright": ours,
        "mlflow": theirs,
        "ratios_loopwright_over_mlflow": ratios,
        "targets": {
            "predict_1_row_sklearn <= 1/3": ratios["predict_1_row_sklearn"] <= 1 / 3,
            "predict_1_row_onnx <= 1/10": ratios["predict_1_row_onnx"] <= 1 / 10,
        },
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
