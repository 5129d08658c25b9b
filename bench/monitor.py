"""Live monitoring: ``lw.monitor`` over a day of logged traffic vs NannyML on the same rows.

Setup (not timed): a logistic-regression churn model on 20 numeric features is logged, registered
and profiled; ``--rows`` predictions (default 1,000,000) are written through the serving
``PredictionLog`` over 24 hourly windows (hours 12-17 covariate-shifted: two features squeezed
towards the decision boundary, which lowers accuracy while the model stays calibrated), and labels
drawn from the true probabilities are logged as feedback for the first 18 hours.

Timed:
- Loopwright: one ``lw.monitor("churn", window="1h", since=…, now=…)`` call: it reads the log,
  computes drift per window against the reference profile, joins the labels, computes realised
  metrics and CBPE estimates, judges alert rules and stores the 24 windows.
- NannyML (its own venv, ``bench/_nannyml_child.py``, same Parquet export, loading not timed):
  ``UnivariateDriftCalculator`` (KS + Wasserstein, hourly chunks), ``CBPE`` (accuracy, ROC AUC) and
  ``PerformanceCalculator`` (realised accuracy, ROC AUC), each fitted on the reference.

Prints JSON: seconds per tool, the ratio, and how far the two CBPE estimates and each tool's
estimate and realised metrics are apart per window.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
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
    from loopwright.store.entities import FeedbackRecord, now_ms

    rng = np.random.default_rng(0)
    train = sample(50_000, rng, False)
    y_train = (rng.random(len(train)) < true_proba(train)).astype(int)
    model = LogisticRegression().fit(train, y_train)
    with lw.start_run():
        info = lw.log_model(model, "model", input_example=train.head(3))
    lw.register_model(info.uri, "churn")
    lw.profile(train, model="models:/churn/1")
    loaded = lw.load_model("models:/churn/1")

    log = PredictionLog(lw.get_client, max_queue_rows=10 * rows)
    per_hour = rows // 24
    request_rows = 500
    feedback: list[FeedbackRecord] = []
    stamp = now_ms()
    for hour in range(24):
        X = sample(per_hour, rng, hour in SHIFTED_HOURS)
        labels = (rng.random(per_hour) < true_proba(X)).astype(int)
        for k, start in enumerate(range(0, per_hour, request_rows)):
            part = X.iloc[start : start + request_rows].reset_index(drop=True)
            rid = uuid.uuid4().hex
            ts = T0 + hour * HOUR + 1000 + k * 100
            data = ModelInput(part.to_numpy(), len(part), tuple(FEATURES))
            log.record("churn", rid, ts, loaded, "churn", 1, 1.0, data, loaded.predict(part))
            if hour < LABELLED_HOURS:
                feedback += [
                    FeedbackRecord("churn", rid, r, int(v), stamp)
                    for r, v in enumerate(labels[start : start + request_rows])
                ]
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
    logged = lw.get_predictions("churn", since=T0)
    labels = lw.get_feedback("churn")[["request_id", "row", "label"]]
    analysis = logged.merge(labels, on=["request_id", "row"], how="left")
    analysis = analysis.rename(columns={"score": "y_pred_proba", "prediction": "y_pred", "label": "y_true"})
    analysis["y_true"] = pd.to_numeric(analysis["y_true"])
    analysis[[*FEATURES, "timestamp", "y_pred_proba", "y_pred", "y_true"]].to_parquet(
        out / "analysis.parquet"
    )
    return {"rows_logged": len(logged), "rows_labelled": int(analysis["y_true"].notna().sum())}


def run_loopwright() -> dict[str, Any]:
    import loopwright as lw

    start = time.perf_counter()
    windows = lw.monitor(
        "churn",
        window="1h",
        since=T0,
        now=T0 + 24 * HOUR + 60_000,
        include_open=False,
        alerts={"metrics": {"accuracy": {"min": 0.75}}},
    )
    seconds = time.perf_counter() - start
    return {
        "seconds": seconds,
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--no-nannyml", action="store_true")
    args = parser.parse_args()
    # the log scores numpy batches with a model fitted on a frame; alert lines would drown the JSON
    warnings.filterwarnings("ignore", message="X does not have valid feature names")
    logging.getLogger("loopwright").setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        os.environ["LOOPWRIGHT_HOME"] = str(home / "home")
        started = time.perf_counter()
        result: dict[str, Any] = {"rows": args.rows, **setup(args.rows, home)}
        result["setup_seconds"] = round(time.perf_counter() - started, 1)
        ours = run_loopwright()
        result["loopwright"] = {k: ours[k] for k in ("seconds", "windows", "drifted_hours")}
        gaps = {
            "accuracy": _max_gap(ours["estimated_accuracy"], ours["accuracy"]),
            "roc_auc": _max_gap(ours["estimated_roc_auc"], ours["roc_auc"]),
        }
        result["loopwright"]["max_gap_estimated_vs_realised"] = gaps
        if not args.no_nannyml:
            python = refenv.ensure("nannyml")
            child = subprocess.run(
                [str(python), str(Path(__file__).with_name("_nannyml_child.py")), str(home)],
                capture_output=True,
                text=True,
            )
            if child.returncode != 0:
                raise SystemExit(f"NannyML side failed:\n{child.stderr[-3000:]}")
            theirs = json.loads(child.stdout.strip().splitlines()[-1])
            result["nannyml"] = {
                k: theirs[k] for k in ("seconds", "seconds_by_step", "drifted_hours", "version")
            }
            result["ratio"] = round(theirs["seconds"] / ours["seconds"], 1)
            result["cbpe_max_gap_loopwright_vs_nannyml"] = {
                "accuracy": _max_gap(ours["estimated_accuracy"], theirs["estimated_accuracy"]),
                "roc_auc": _max_gap(ours["estimated_roc_auc"], theirs["estimated_roc_auc"]),
            }
            result["nannyml"]["max_gap_estimated_vs_realised"] = {
                "accuracy": _max_gap(theirs["estimated_accuracy"], ours["accuracy"]),
                "roc_auc": _max_gap(theirs["estimated_roc_auc"], ours["roc_auc"]),
            }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
