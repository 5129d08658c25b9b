"""Load time and predict latency of a 100-tree random forest: Loopwright vs MLflow pyfunc.

Both sides train the same ``RandomForestClassifier(100, random_state=0)`` on the same generated data
(``bench/_forest.py``; a checksum of the probabilities proves the forests are identical), store it
with their default log call, then time: loading (median of 9 loads), predicting one row (median and
p99 of 500 calls) and 1,000 rows (median of 30 calls), on a numpy array through the public
``predict``. MLflow runs in its own venv (``bench/.venv-mlflow``) via ``_mlflow_load_predict.py``.

Loopwright: ``lw.log_model(forest, onnx=True)`` then ``lw.load_model(uri)`` (scikit-learn path) and
``lw.load_model(uri, prefer_onnx=True)`` (onnxruntime path). Usage: ``python bench/load_predict.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import refenv  # noqa: E402
from _forest import BATCH, CHECKSUM, ROW, X, forest, median_ms, timed  # noqa: E402

LOADS = 9


def loopwright_side() -> dict[str, Any]:
    os.environ["LOOPWRIGHT_HOME"] = tempfile.mkdtemp(prefix="lw-bench-")
    import loopwright as lw

    with lw.start_run():
        info = lw.log_model(forest, "model", input_example=X[:5], onnx=True)
    results: dict[str, Any] = {
        "tool": f"loopwright {lw.__version__}",
        "serialization": "skops + ONNX companion (lw.log_model(..., onnx=True))",
        "checksum": CHECKSUM,
    }
    for label, prefer_onnx in (("sklearn", False), ("onnx", True)):
        load_ms = median_ms(lambda p=prefer_onnx: lw.load_model(info.uri, prefer_onnx=p), LOADS)
        model = lw.load_model(info.uri, prefer_onnx=prefer_onnx)
        assert model.uses_onnx == prefer_onnx
        results[label] = {
            "load_ms": load_ms,
            "predict_1_row": timed(lambda m=model: m.predict(ROW), 500),
            "predict_1_row_validate_false": timed(lambda m=model: m.predict(ROW, validate=False), 500),
            "predict_1000_rows": timed(lambda m=model: m.predict(BATCH), 30),
            "predictions_match_sklearn": bool((model.predict(X[:200]) == forest.predict(X[:200])).all()),
        }
    return results


def mlflow_side() -> dict[str, Any]:
    python = refenv.ensure("mlflow")
    out = subprocess.run(
        [str(python), str(HERE / "_mlflow_load_predict.py"), str(LOADS)],
        capture_output=True,
        text=True,
        check=True,
        timeout=900,
        cwd=HERE,
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def main() -> None:
    ours = loopwright_side()
    theirs = mlflow_side()
    if abs(ours["checksum"] - theirs["checksum"]) > 1e-9:
        raise SystemExit("the two sides trained different forests; check the scikit-learn versions")

    def ratio(a: float, b: float) -> float:
        return round(a / b, 4)

    row = theirs["predict_1_row"]["median_ms"]
    batch = theirs["predict_1000_rows"]["median_ms"]
    ratios = {
        "load_sklearn": ratio(ours["sklearn"]["load_ms"], theirs["load_ms"]),
        "load_onnx": ratio(ours["onnx"]["load_ms"], theirs["load_ms"]),
        "predict_1_row_sklearn": ratio(ours["sklearn"]["predict_1_row"]["median_ms"], row),
        "predict_1_row_onnx": ratio(ours["onnx"]["predict_1_row"]["median_ms"], row),
        "predict_1000_rows_sklearn": ratio(ours["sklearn"]["predict_1000_rows"]["median_ms"], batch),
        "predict_1000_rows_onnx": ratio(ours["onnx"]["predict_1000_rows"]["median_ms"], batch),
    }
    report = {
        "benchmark": "load_predict",
        "model": "RandomForestClassifier(n_estimators=100), 20 features, trained on 3,000 rows",
        "loopwright": ours,
        "mlflow": theirs,
        "ratios_loopwright_over_mlflow": ratios,
        "targets_met": {
            "predict_1_row_sklearn <= 1/3": ratios["predict_1_row_sklearn"] <= 1 / 3,
            "predict_1_row_onnx <= 1/10": ratios["predict_1_row_onnx"] <= 1 / 10,
        },
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
