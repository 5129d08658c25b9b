"""Load time and predict latency of a 100-tree random forest: Loopwright vs MLflow pyfunc.

Both sides train the same ``RandomForestClassifier(100, random_state=0)`` on the same generated data
(``bench/_forest.py``; a checksum of the probabilities proves the forests are identical), store it
with their default log call, then time: loading (median of 9 loads), predicting one row (median and
p99 of 500 calls) and 1,000 rows (median of 30 calls), on a numpy array through the public
``predict``. MLflow runs in its own venv (``bench/.venv-mlflow``) via ``_mlflow_load_predict.py``.

Loopwright: ``lw.log_model(forest, onnx=True)`` then ``lw.load_model(uri)`` (scikit-learn path) and
``lw.load_model(uri, prefer_onnx=True)`` (onnxruntime path). Each side runs in a fresh process per
repeat, the two interleaved A B A B A B (``bench/_compare.py``); ratios (Loopwright / MLflow, lower is
better) are per pair, reported as median and min-max, with versions and load average.
Usage: ``python bench/load_predict.py [--repeats 3]``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import _compare  # noqa: E402
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
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    command = [python, HERE / "_mlflow_load_predict.py", str(LOADS)]
    return _compare.child_json(command, check=False, timeout=900, cwd=HERE, env=env)


def flat(side: dict[str, Any]) -> dict[str, Any]:
    """The figures the ratios use, flat: ``sklearn_load_ms``, ``onnx_predict_1_row_ms`` …"""
    out: dict[str, Any] = {"checksum": side["checksum"], "tool": side["tool"]}
    for prefix, figures in (("sklearn_", side.get("sklearn")), ("onnx_", side.get("onnx")), ("", side)):
        if figures is None or "load_ms" not in figures:
            continue
        out[f"{prefix}load_ms"] = figures["load_ms"]
        out[f"{prefix}predict_1_row_ms"] = figures["predict_1_row"]["median_ms"]
        out[f"{prefix}predict_1_row_p99_ms"] = figures["predict_1_row"].get("p99_ms")
        out[f"{prefix}predict_1000_rows_ms"] = figures["predict_1000_rows"]["median_ms"]
        if "predict_1_row_validate_false" in figures:
            out[f"{prefix}predict_1_row_validate_false_ms"] = figures["predict_1_row_validate_false"][
                "median_ms"
            ]
        out[f"{prefix}predictions_match_sklearn"] = figures["predictions_match_sklearn"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(loopwright_side()))
        return
    report: dict[str, Any] = {
        "benchmark": "load_predict",
        "model": "RandomForestClassifier(n_estimators=100), 20 features, trained on 3,000 rows",
        "repeats": args.repeats,
        **_compare.environment("mlflow"),
    }
    pairs = _compare.interleave(
        lambda: flat(_compare.child_json([sys.executable, Path(__file__), "--child"], timeout=900)),
        lambda: flat(mlflow_side()),
        args.repeats,
    )
    for ours, theirs in pairs:
        if abs(ours["checksum"] - theirs["checksum"]) > 1e-9:
            raise SystemExit("the two sides trained different forests; check the scikit-learn versions")
    report["median_ms"] = _compare.side_by_side(pairs, ("loopwright", "mlflow"))
    ratios = {}
    for path in ("sklearn", "onnx"):
        for figure in ("load_ms", "predict_1_row_ms", "predict_1_row_p99_ms", "predict_1000_rows_ms"):
            ratios[f"{path}_{figure}"] = _compare.ratios(
                pairs, f"{path}_{figure}", figure, b_over_a=False, digits=4
            )
    report["ratios_loopwright_over_mlflow"] = ratios
    report["targets_met"] = {
        "predict_1_row_sklearn <= 1/3": ratios["sklearn_predict_1_row_ms"]["median"] <= 1 / 3,
        "predict_1_row_onnx <= 1/10": ratios["onnx_predict_1_row_ms"]["median"] <= 1 / 10,
    }
    print(json.dumps(_compare.finish(report), indent=2))


if __name__ == "__main__":
    main()
