"""Data and model both sides of bench/spark_scale.py share (numpy, pyarrow, scikit-learn only).

``ensure_data(folder, rows)`` writes ``rows`` rows of 10 numeric features (``f0`` … ``f9``, float64)
as Parquet files of 1,000,000 rows once; ``train(folder)`` fits the benchmark's model on the first
100,000 rows: a ``StandardScaler`` + ``LogisticRegression`` pipeline, the kind of churn/propensity
scorer batch jobs run nightly. It is cheap to evaluate on purpose, so the benchmark measures the
scoring path (Spark ↔ Python transfer, per-batch work, model dispatch), not scikit-learn: both sides
call the same ``predict``, and a model a hundred times slower would bring any ratio towards 1.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

FEATURES = [f"f{i}" for i in range(10)]
FILE_ROWS = 1_000_000
TRAIN_ROWS = 100_000


def _chunk(index: int, rows: int) -> Any:
    rng = np.random.default_rng(index)
    return rng.normal(0.0, 1.0, (rows, len(FEATURES))) * np.arange(1, len(FEATURES) + 1)


def ensure_data(folder: Path, rows: int) -> Path:
    """A Parquet folder of ``rows`` rows (written once; a ``_SUCCESS`` file marks it whole)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    data = folder / f"data-{rows}"
    if (data / "_SUCCESS").exists():
        return data
    data.mkdir(parents=True, exist_ok=True)
    for index, first in enumerate(range(0, rows, FILE_ROWS)):
        block = _chunk(index, min(FILE_ROWS, rows - first))
        table = pa.table({name: block[:, i] for i, name in enumerate(FEATURES)})
        pq.write_table(table, data / f"part-{index:05d}.parquet", row_group_size=FILE_ROWS // 4)
    (data / "_SUCCESS").touch()
    return data


def train() -> tuple[Any, Any]:
    """The fitted pipeline and its training frame (the same on both sides: seeded data, lbfgs)."""
    import pandas as pd
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X = pd.DataFrame(_chunk(0, TRAIN_ROWS), columns=FEATURES)
    weights = np.linspace(-1.0, 1.0, len(FEATURES)) / np.arange(1, len(FEATURES) + 1)
    y = (X.to_numpy() @ weights + np.random.default_rng(99).normal(0, 1, TRAIN_ROWS) > 0).astype(np.int64)
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
    return model, X
