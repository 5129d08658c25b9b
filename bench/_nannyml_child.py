"""The NannyML side of bench/monitor.py, run in NannyML's own venv on the exported Parquet files.

Prints one JSON line: total and per-step seconds (loading the two Parquet files included, as
Loopwright's side includes reading its reference and its prediction log), the hours with a drift
alert, and NannyML's CBPE estimates per hourly chunk.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import nannyml as nml
import pandas as pd

FEATURES = [f"x{i}" for i in range(20)]


def main() -> None:
    folder = Path(sys.argv[1])
    steps: dict[str, float] = {}
    start = time.perf_counter()
    reference = pd.read_parquet(folder / "reference.parquet")
    analysis = pd.read_parquet(folder / "analysis.parquet")
    for frame in (reference, analysis):
        frame["timestamp"] = frame["timestamp"].dt.tz_convert(None)
    common = {"timestamp_column_name": "timestamp", "chunk_period": "h"}
    outputs = {"y_pred_proba": "y_pred_proba", "y_pred": "y_pred", "y_true": "y_true"}
    steps["load"] = time.perf_counter() - start

    t = time.perf_counter()
    drift = nml.UnivariateDriftCalculator(
        column_names=FEATURES, continuous_methods=["kolmogorov_smirnov", "wasserstein"], **common
    ).fit(reference)
    drifted = drift.calculate(analysis).filter(period="analysis").to_df()
    steps["drift"] = time.perf_counter() - t

    t = time.perf_counter()
    cbpe = nml.CBPE(
        **outputs, metrics=["accuracy", "roc_auc"], problem_type="classification_binary", **common
    ).fit(reference)
    estimated = cbpe.estimate(analysis).filter(period="analysis").to_df()
    steps["cbpe"] = time.perf_counter() - t

    t = time.perf_counter()
    realised = nml.PerformanceCalculator(
        **outputs, metrics=["accuracy", "roc_auc"], problem_type="classification_binary", **common
    ).fit(reference)
    realised.calculate(analysis).filter(period="analysis").to_df()
    steps["realised"] = time.perf_counter() - t
    seconds = time.perf_counter() - start

    alerts = drifted[[c for c in drifted.columns if c[-1] == "alert"]].any(axis=1).to_numpy()
    print(
        json.dumps(
            {
                "version": nml.__version__,
                "seconds": seconds,
                "seconds_by_step": {k: round(v, 3) for k, v in steps.items()},
                "drifted_hours": [int(i) for i, a in enumerate(alerts) if a],
                "estimated_accuracy": estimated[("accuracy", "value")].astype(float).tolist(),
                "estimated_roc_auc": estimated[("roc_auc", "value")].astype(float).tolist(),
            }
        )
    )


if __name__ == "__main__":
    main()
