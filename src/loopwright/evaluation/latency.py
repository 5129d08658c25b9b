"""Prediction latency: batch throughput and single-row percentiles, several models measured interleaved.

What is timed is :meth:`LoadedModel.predict` on a DataFrame, signature validation included: what
a Python caller sees (the server's hot path skips re-validation, so it is faster). Single-row
latency is measured on ``sample`` rows drawn with a fixed seed, each a prebuilt one-row frame
(after a few warm-up calls). Each row is timed in ``rounds`` passes over the sample and its
**fastest** time counts, as :mod:`timeit` does: other processes only ever add time, so the best
of several passes, spread over seconds, is the model's own cost on that row, and p50/p99 are
percentiles of those per-row costs across rows — a row that is slow every time (a deep tree path,
a long text) stays in the tail, a scheduler hiccup during one call does not. Why: with one timed
call per row, the p99 of 200 calls is the second-largest value, i.e. whichever call the OS
interrupted; on a busy 2-core machine two identical models then differed by up to 60 % in p99,
which made a gate rule like ``latency_p99_ms: {max_ratio: 1.2}`` a coin toss (with the best of 5
passes they stayed within about 12 %). When several models are measured (a gate's candidate and
champion) they take turns row by row, in alternating order, so a noisy neighbour or a CPU
frequency change hits both alike and the ratio between them is fair. Batch throughput is the best of
``repeats`` timed calls on up to ``batch_rows`` rows, again in turns. The garbage collector is paused
while timing. Each figure is also kept per round (``Latency.rounds``; per batch call for throughput):
their spread is the measurement noise a gate rule must see past before it judges (see
:mod:`loopwright.evaluation.gate`).

Examples
--------
>>> import numpy as np, pandas as pd
>>> class Double:
...     def predict(self, frame):
...         return frame["x"].to_numpy() * 2
>>> [lat] = measure_latency([Double()], pd.DataFrame({"x": np.arange(100.0)}), sample=20)
>>> lat.single_rows, lat.batch_rows, lat.p50_ms <= lat.p99_ms
(20, 100, True)
"""

from __future__ import annotations

import gc
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import numpy as np
import pandas as pd

from loopwright.errors import InvalidInput

DEFAULT_SAMPLE = 200
DEFAULT_BATCH_ROWS = 10_000
DEFAULT_ROUNDS = 5
WARM_UP_CALLS = 3


class Predicts(Protocol):
    def predict(self, data: Any) -> Any: ...


@dataclass(frozen=True)
class Latency:
    """Timings of one model on one dataset.

    Attributes
    ----------
    p50_ms, p99_ms, mean_ms:
        Single-row predict latency over ``single_rows`` sampled rows, in milliseconds: the
        percentiles (and mean) across rows of each row's best time over the timing rounds.
    throughput_rows_per_s:
        Rows per second of the best batch call on ``batch_rows`` rows.
    """

    p50_ms: float
    p99_ms: float
    mean_ms: float
    single_rows: int
    throughput_rows_per_s: float
    batch_rows: int
    #: the same figures from each timing round (each batch call) alone: their spread is the noise
    rounds: dict[str, list[float]] = field(default_factory=dict)

    def metrics(self) -> dict[str, float]:
        """The values gates compare: ``latency_p50_ms``, ``latency_p99_ms``, ``throughput_rows_per_s``."""
        return {
            "latency_p50_ms": self.p50_ms,
            "latency_p99_ms": self.p99_ms,
            "throughput_rows_per_s": self.throughput_rows_per_s,
        }

    def spread(self, metric: str) -> tuple[float, float] | None:
        """The interquartile range of ``metric`` over the timing rounds (``None`` with fewer than 3 rounds)."""
        values = self.rounds.get(metric, [])
        if len(values) < 3:
            return None
        low, high = np.percentile(values, [25, 75])
        return float(low), float(high)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def measure_latency(
    models: Sequence[Predicts],
    features: pd.DataFrame | Sequence[pd.DataFrame],
    *,
    sample: int = DEFAULT_SAMPLE,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    repeats: int = 3,
    rounds: int = DEFAULT_ROUNDS,
    seed: int = 0,
) -> list[Latency]:
    """Time each model's ``predict`` on the same rows, interleaved; one :class:`Latency` per model.

    Parameters
    ----------
    models : list
        Objects with ``predict(frame)`` (normally :class:`~loopwright.models.LoadedModel`).
    features : DataFrame or list of DataFrames
        The model input (no target column); a list gives each model its own columns of the same rows.
    sample : int
        Rows timed one at a time per model.
    rounds : int
        Passes over the sampled rows; each row's fastest pass counts.
    batch_rows, repeats : int
        Rows per batch call, and how many batch calls per model (the fastest counts).
    seed : int
        Chooses the sampled rows.

    Returns
    -------
    list of Latency
    """
    frames = [features] * len(models) if isinstance(features, pd.DataFrame) else list(features)
    if len(frames) != len(models):
        raise InvalidInput(f"{len(models)} models but {len(frames)} input frames")
    n = len(frames[0]) if frames else 0
    if n == 0 or any(len(f) != n for f in frames):
        raise InvalidInput("cannot time predictions: the inputs are empty or differ in length")
    if sample < 1 or batch_rows < 1 or repeats < 1 or rounds < 1:
        raise InvalidInput("sample, batch_rows, repeats and rounds must be positive")
    rows = np.random.default_rng(seed).choice(n, size=min(sample, n), replace=False)
    singles = [[f.iloc[[int(i)]] for i in rows] for f in frames]
    batches = [f.iloc[:batch_rows] for f in frames]
    for m, model in enumerate(models):
        for _ in range(WARM_UP_CALLS):
            model.predict(singles[m][0])
    order = list(range(len(models)))
    round_ns = np.zeros((len(models), rounds, len(rows)), dtype=np.int64)
    batch_s = np.zeros((len(models), repeats))
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        for k in range(rounds):
            for j in range(len(rows)):
                for m in order if (j + k) % 2 == 0 else order[::-1]:
                    row = singles[m][j]
                    started = time.perf_counter_ns()
                    models[m].predict(row)
                    round_ns[m, k, j] = time.perf_counter_ns() - started
        for r in range(repeats):
            for m in order if r % 2 == 0 else order[::-1]:
                batch = batches[m]
                started = time.perf_counter_ns()
                models[m].predict(batch)
                batch_s[m, r] = max((time.perf_counter_ns() - started) / 1e9, 1e-9)
    finally:
        if was_enabled:
            gc.enable()
    out = []
    for m in order:
        ms = round_ns[m].min(axis=0) / 1e6
        p50, p99 = np.percentile(ms, [50, 99])
        per_round = np.percentile(round_ns[m] / 1e6, [50, 99], axis=1)
        out.append(
            Latency(
                p50_ms=float(p50),
                p99_ms=float(p99),
                mean_ms=float(ms.mean()),
                single_rows=len(rows),
                throughput_rows_per_s=len(batches[m]) / float(batch_s[m].min()),
                batch_rows=len(batches[m]),
                rounds={
                    "latency_p50_ms": per_round[0].tolist(),
                    "latency_p99_ms": per_round[1].tolist(),
                    "throughput_rows_per_s": (len(batches[m]) / batch_s[m]).tolist(),
                },
            )
        )
    return out
