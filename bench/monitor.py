"""Live monitoring: ``lw.monitor`` over a day of logged traffic vs NannyML on the same rows.

Setup (not timed): a logistic-regression churn model on 20 numeric features is logged, registered
and profiled; ``--rows`` predictions (default 1,000,000) are written through the serving
``PredictionLog`` over 24 hourly windows (hours 12-17 covariate-shifted: two features squeezed
towards the decision boundary, which lowers accuracy while the model stays calibrated), and labels
drawn from the true probabilities are logged as feedback for the first 18 hours, stamped half an hour after
their hour (the log's clock, so a resuming pass reads only the feedback logged since the last one). A 25th
hour is logged too, outside the first pass's windows.

Timed, the same stages on both sides (each side in a fresh process per repeat, imports not timed):
- Loopwright (a copy of the store made at setup): load the reference rows (the training features and
  the model's predictions) from Parquet, build the reference profile (``lw.profile(reference,
  model="models:/churn/1")``, stored as the version's reference), then one ``lw.monitor("churn",
  window="1h", since=…, now=…)`` call: it reads the log's Parquet blobs and the feedback labels,
  computes drift per window against that profile, joins the labels, computes realised metrics and CBPE
  estimates, judges alert rules and stores the 24 windows (and their label joins). Then, timed apart as
  ``repeated_pass_seconds``: the late labels of hour 18 (an already-profiled window) are logged (not timed)
  and ``lw.monitor`` resumes an hour later -- one new closed window and one relabelled (issue 17 item 6).
- NannyML (its own venv, ``bench/_nannyml_child.py``): load the same reference and the same logged
  rows with their labels from Parquet, then ``UnivariateDriftCalculator`` (KS + Wasserstein, hourly
  chunks), ``CBPE`` (accuracy, ROC AUC) and ``PerformanceCalculator`` (realised accuracy, ROC AUC),
  each fitted on the reference and run on the logged rows.

The two run interleaved, A B A B A B (``bench/_compare.py``). Prints JSON: seconds per stage and per
tool, the per-pair ratio (NannyML / Loopwright) with median and min-max, versions and load, and how far
the two CBPE estimates and each tool's estimate and realised metrics are apart per window.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _compare
import refenv

HOUR = 3_600_000
T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z
FEATURES = [f"x{i}" for i in range(20)]
SHIFTED_HOURS = range(12, 18)
LABELLED_HOURS = 18


def true_proba(X: pd.DataFrame) -> np.ndarray:
    logit = 2.0 * X.x0 + 1.5 * X.x1 - 1.0 * X.x2 + 0.5 * X.x3
    return 1 / (1 + np.exp(-logit.to_numpy()))


def sample(n: int, rng: np.random.Generator, shifted: bool) -> pd.DataFrame:
    X = pd.DataFrame(rng.normal(size=(n, len(FEATURES))), columns=FEATURES)
    if shifted:
        X["x0"] = rng.normal(0, 0.2, n)
        X["x1"] = rng.normal(0, 0.2, n)
    return X


def setup(rows: int, out: Path) -> dict[str, Any]:
    """Train, register, profile, log a day of traffic and labels; export the same rows for NannyML."""
    from sklearn.linear_model import LogisticRegression

    import loopwright as lw
    from loopwright.serving.inputs import ModelInput
    from loopwright.serving.prediction_log import PredictionLog
    from loopwright.store.entities import FeedbackRecord

    rng = np.random.default_rng(0)
    train = sample(50_000, rng, False)
    y_train = (rng.random(len(train)) < true_proba(train)).astype(int)
    model = LogisticRegression().fit(train, y_train)
    with lw.start_run():
        info = lw.log_model(model, "model", input_example=train.head(3))
    lw.register_model(info.uri, "churn")  # profiled in the timed part (run_loopwright)
    loaded = lw.load_model("models:/churn/1")

    log = PredictionLog(lw.get_client, max_queue_rows=10 * rows)
    per_hour = rows // 24
    request_rows = 500
    feedback: list[FeedbackRecord] = []
    late: list[tuple[str, int, int]] = []
    for hour in range(25):  # hour 24 is the new hour of the repeated pass (not in the first)
        X = sample(per_hour, rng, hour in SHIFTED_HOURS)
        truth = (rng.random(per_hour) < true_proba(X)).astype(int)
        # labels come back half an hour after their hour (stamped on the same clock as the log)
        stamp = T0 + (hour + 1) * HOUR + HOUR // 2
        for k, start in enumerate(range(0, per_hour, request_rows)):
            part = X.iloc[start : start + request_rows].reset_index(drop=True)
            rid = uuid.uuid4().hex
            ts = T0 + hour * HOUR + 1000 + k * 100
            data = ModelInput(part.to_numpy(), len(part), tuple(FEATURES))
            log.record("churn", rid, ts, loaded, "churn", 1, 1.0, data, loaded.predict(part))
            values = truth[start : start + request_rows]
            if hour < LABELLED_HOURS:
                feedback += [FeedbackRecord("churn", rid, r, int(v), stamp) for r, v in enumerate(values)]
            elif hour == LABELLED_HOURS:  # logged between the two passes: late labels for a profiled hour
                late += [(rid, r, int(v)) for r, v in enumerate(values)]
        log.flush(timeout=600)
    log.close()
    store = lw.get_client().store
    for i in range(0, len(feedback), 50_000):
        store.log_feedback(feedback[i : i + 50_000])

    # the same rows for NannyML: reference = training data with model outputs and labels
    reference = train.assign(
        y_pred_proba=model.predict_proba(train)[:, 1], y_pred=model.predict(train), y_true=y_train
    )
    # spread over a day too: NannyML derives its alert thresholds from the spread across reference chunks
    step = pd.Timedelta(hours=24) / len(reference)
    reference["timestamp"] = pd.Timestamp("2025-12-01", tz="UTC") + step * np.arange(len(reference))
    reference.to_parquet(out / "reference.parquet")
    pd.DataFrame(late, columns=["request_id", "row", "label"]).to_parquet(out / "late_labels.parquet")
    logged = lw.list_predictions("churn", since=T0, until=T0 + 24 * HOUR)
    labels = lw.list_feedback("churn")[["request_id", "row", "label"]]
    analysis = logged.merge(labels, on=["request_id", "row"], how="left")
    analysis = analysis.rename(columns={"score": "y_pred_proba", "prediction": "y_pred", "label": "y_true"})
    analysis["y_true"] = pd.to_numeric(analysis["y_true"])
    analysis[[*FEATURES, "timestamp", "y_pred_proba", "y_pred", "y_true"]].to_parquet(
        out / "analysis.parquet"
    )
    lw.reset_clients()
    return {"rows_logged": len(logged), "rows_labelled": int(analysis["y_true"].notna().sum())}


def run_loopwright(folder: Path) -> dict[str, Any]:
    """Loopwright's timed stages, in this (fresh) process: load the reference, profile it, monitor."""
    import loopwright as lw

    # imports and store connection, not timed (NannyML's side imports before its clock starts too);
    # ``import loopwright`` is lazy, so the monitoring modules are imported here explicitly
    lw.get_client().store.get_registered_model("churn")
    for module in ("reference", "profile", "drift", "live", "estimation", "performance", "alerts"):
        importlib.import_module(f"loopwright.monitoring.{module}")
    # the monitor loads the served version to learn its classes: scikit-learn and skops are imported
    # here, as NannyML imports scikit-learn before its clock
    for module in ("sklearn.linear_model", "skops.io"):
        importlib.import_module(module)
    start = time.perf_counter()
    reference = pd.read_parquet(folder / "reference.parquet", columns=[*FEATURES, "y_pred"])
    reference = reference.rename(columns={"y_pred": "prediction"})  # the model's, as profile would add
    loaded = time.perf_counter()
    lw.profile(reference, model="models:/churn/1", prediction="prediction")
    profiled = time.perf_counter()
    windows = lw.monitor(
        "churn",
        window="1h",
        since=T0,
        now=T0 + 24 * HOUR + 60_000,
        include_open=False,
        alerts={"metrics": {"accuracy": {"min": 0.75}}},
    )
    end = time.perf_counter()

    # the next pass, an hour later: one new hour of traffic and the late labels of hour 18 (an
    # already-profiled window); logging them is not timed
    from loopwright.store.entities import FeedbackRecord

    late = pd.read_parquet(folder / "late_labels.parquet")
    stamp = T0 + 24 * HOUR + HOUR // 2
    lw.get_client().store.log_feedback(
        [FeedbackRecord("churn", r, int(n), int(v), stamp) for r, n, v in late.itertuples(index=False)]
    )
    again = time.perf_counter()
    repeated = lw.monitor(
        "churn",
        window="1h",
        now=T0 + 25 * HOUR + 60_000,
        include_open=False,
        alerts={"metrics": {"accuracy": {"min": 0.75}}},
    )
    repeated_seconds = time.perf_counter() - again
    return {
        "seconds": end - start,
        "seconds_by_step": {
            "load_reference": round(loaded - start, 3),
            "profile_reference": round(profiled - loaded, 3),
            "monitor": round(end - profiled, 3),
        },
        "repeated_pass_seconds": round(repeated_seconds, 3),
        "repeated_pass_windows": [(w.start_ms - T0) // HOUR for w in repeated],
        "repeated_pass_labelled": [w.labelled for w in repeated],
        "windows": len(windows),
        "drifted_hours": [(w.start_ms - T0) // HOUR for w in windows if w.drifted],
        "estimated_accuracy": [w.estimated.get("accuracy") for w in windows],
        "estimated_roc_auc": [w.estimated.get("roc_auc") for w in windows],
        "accuracy": [w.metrics.get("accuracy") for w in windows],
        "roc_auc": [w.metrics.get("roc_auc") for w in windows],
    }


def _max_gap(a: list[float | None], b: list[float | None]) -> float | None:
    gaps = [abs(x - y) for x, y in zip(a, b, strict=True) if x is not None and y is not None]
    return max(gaps) if gaps else None


def loopwright_child(home: Path, repeat: int) -> dict[str, Any]:
    """One repeat of Loopwright's side: a fresh process on a fresh copy of the store set up once."""
    copy = home / f"home-{repeat}"
    shutil.copytree(home / "home", copy)
    env = {**os.environ, "LOOPWRIGHT_HOME": str(copy)}
    try:
        return _compare.child_json([sys.executable, __file__, "--child", str(home)], env=env)
    finally:
        shutil.rmtree(copy, ignore_errors=True)


def nannyml_child(home: Path) -> dict[str, Any]:
    python = refenv.ensure("nannyml")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return _compare.child_json([python, Path(__file__).with_name("_nannyml_child.py"), home], env=env)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-nannyml", action="store_true")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    # the log scores numpy batches with a model fitted on a frame; alert lines would drown the JSON
    warnings.filterwarnings("ignore", message="X does not have valid feature names")
    logging.getLogger("loopwright").setLevel(logging.ERROR)
    if args.child:
        print(json.dumps(run_loopwright(args.child)))
        return
    result: dict[str, Any] = {
        "benchmark": "monitor",
        "rows": args.rows,
        "repeats": args.repeats,
        **_compare.environment(*(() if args.no_nannyml else ("nannyml",))),
    }
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        os.environ["LOOPWRIGHT_HOME"] = str(home / "home")
        started = time.perf_counter()
        result.update(setup(args.rows, home))
        result["setup_seconds"] = round(time.perf_counter() - started, 1)
        del os.environ["LOOPWRIGHT_HOME"]
        repeats = iter(range(10 * args.repeats))
        if args.no_nannyml:
            pairs: list[tuple[dict[str, Any], dict[str, Any]]] = [
                (loopwright_child(home, next(repeats)), {}) for _ in range(args.repeats)
            ]
        else:
            pairs = _compare.interleave(
                lambda: loopwright_child(home, next(repeats)), lambda: nannyml_child(home), args.repeats
            )
    ours, theirs = pairs[-1]
    result["loopwright"] = {
        "seconds": [a["seconds"] for a, _ in pairs],
        "seconds_median": statistics.median(a["seconds"] for a, _ in pairs),
        "seconds_by_step": [a["seconds_by_step"] for a, _ in pairs],
        "repeated_pass_seconds": [a["repeated_pass_seconds"] for a, _ in pairs],
        "repeated_pass_windows": ours["repeated_pass_windows"],
        "repeated_pass_labelled": ours["repeated_pass_labelled"],
        "windows": ours["windows"],
        "drifted_hours": ours["drifted_hours"],
        "max_gap_estimated_vs_realised": {
            "accuracy": _max_gap(ours["estimated_accuracy"], ours["accuracy"]),
            "roc_auc": _max_gap(ours["estimated_roc_auc"], ours["roc_auc"]),
        },
    }
    if not args.no_nannyml:
        result["nannyml"] = {
            "seconds": [b["seconds"] for _, b in pairs],
            "seconds_median": statistics.median(b["seconds"] for _, b in pairs),
            "seconds_by_step": [b["seconds_by_step"] for _, b in pairs],
            "drifted_hours": theirs["drifted_hours"],
            "max_gap_estimated_vs_realised": {
                "accuracy": _max_gap(theirs["estimated_accuracy"], ours["accuracy"]),
                "roc_auc": _max_gap(theirs["estimated_roc_auc"], ours["roc_auc"]),
            },
        }
        result["ratio_nannyml_over_loopwright"] = _compare.ratios(pairs, "seconds", digits=2)
        result["cbpe_max_gap_loopwright_vs_nannyml"] = {
            "accuracy": _max_gap(ours["estimated_accuracy"], theirs["estimated_accuracy"]),
            "roc_auc": _max_gap(ours["estimated_roc_auc"], theirs["estimated_roc_auc"]),
        }
    print(json.dumps(_compare.finish(result), indent=2))


if __name__ == "__main__":
    main()
