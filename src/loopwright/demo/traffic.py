"""Live traffic for the demo: single-row requests over HTTP, some of them drifted, then feedback."""

from __future__ import annotations

import time
from dataclasses import dataclass

import httpx
import numpy as np
import pandas as pd


@dataclass
class Traffic:
    """What one burst of requests saw."""

    latencies_ms: list[float]
    request_ids: list[str]
    labels: list[int]
    versions: set[str]

    @property
    def p50(self) -> float:
        return float(np.percentile(self.latencies_ms, 50))

    @property
    def p99(self) -> float:
        return float(np.percentile(self.latencies_ms, 99))


def send(client: httpx.Client, url: str, rows: pd.DataFrame, labels: pd.Series) -> Traffic:
    """POST each row to ``/endpoints/NAME/predict`` as its own request (``{"instances": [row]}``)."""
    records = rows.to_dict(orient="records")
    traffic = Traffic([], [], [], set())
    for record, label in zip(records, labels, strict=True):
        started = time.perf_counter()
        response = client.post(url, json={"instances": [record]})
        traffic.latencies_ms.append((time.perf_counter() - started) * 1000)
        response.raise_for_status()
        traffic.request_ids.append(response.json()["request_id"])
        traffic.versions.add(response.headers["x-model-version"])
        traffic.labels.append(int(label))
    return traffic


def drifted(rows: pd.DataFrame, columns: list[str], factor: float = 1.6) -> pd.DataFrame:
    """The same rows with a few features scaled: the world the model was trained on has moved."""
    shifted = rows.copy()
    shifted[columns] = shifted[columns] * factor
    return shifted


def wait_for_next_window(seconds: float) -> None:
    """Sleep until the next multiple of ``seconds`` (UTC), so two bursts land in different windows."""
    now = time.time()
    time.sleep(seconds - now % seconds + 0.05)
