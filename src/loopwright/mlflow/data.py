"""``mlflow.data``: ``from_pandas`` / ``from_numpy`` datasets for ``mlflow.log_input``.

A dataset here is the frame plus its name and source; ``log_input`` records its fingerprint through
``lw.log_dataset`` (digest, schema, row count: never the rows).

Examples
--------
>>> import pandas as pd
>>> dataset = from_pandas(pd.DataFrame({"x": [1, 2], "y": [0, 1]}), source="s3://bucket/train.csv", targets="y")
>>> dataset.name, dataset.source, dataset.targets, dataset.n_rows
('dataset', 's3://bucket/train.csv', 'y', 2)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd


@dataclass(frozen=True)
class PandasDataset:
    """A frame with the name, source and target column MLflow's dataset carries."""

    df: pd.DataFrame
    name: str
    source: str | None = None
    targets: str | None = None

    @property
    def n_rows(self) -> int:
        return len(self.df)

    @property
    def digest(self) -> str:
        from loopwright.tracking.datasets import fingerprint

        return fingerprint(self.df, self.name).digest


def from_pandas(
    df: pd.DataFrame, source: Any = None, targets: str | None = None, name: str | None = None, **_: Any
) -> PandasDataset:
    return PandasDataset(df, name or "dataset", None if source is None else str(source), targets)


def from_numpy(
    features: Any, source: Any = None, targets: Any = None, name: str | None = None
) -> PandasDataset:
    """A numpy array as a frame with columns ``0..n-1`` (and ``target`` when given)."""
    import numpy as np

    array = np.asarray(features)
    frame = pd.DataFrame(array.reshape(len(array), -1))
    frame.columns = [str(c) for c in frame.columns]
    if targets is not None:
        frame["target"] = np.asarray(targets)
    return PandasDataset(
        frame,
        name or "dataset",
        None if source is None else str(source),
        None if targets is None else "target",
    )
