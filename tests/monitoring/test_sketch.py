"""The quantile sketch and the aligned histogram: exactness where promised, stated error bounds elsewhere."""

from __future__ import annotations

import json

import numpy as np
import pytest

from loopwright.errors import InvalidInput
from loopwright.monitoring.histogram import Histogram
from loopwright.monitoring.sketch import QuantileSketch


def _cdf_error(sketch: QuantileSketch, data: np.ndarray) -> float:
    """Largest gap between the sketch's CDF and the exact empirical CDF, over many probe points."""
    ordered = np.sort(data)
    probes = np.quantile(ordered, np.linspace(0, 1, 2001))
    exact = np.searchsorted(ordered, probes, side="right") / len(ordered)
    return float(np.abs(sketch.cdf(probes) - exact).max())


def test_small_inputs_are_exact() -> None:
    data = np.random.default_rng(1).normal(size=500)
    sketch = QuantileSketch.from_values(data, k=512)
    assert sketch.error == 0 and sketch.rank_error == 0.0
    assert _cdf_error(sketch, data) == 0.0
    assert np.array_equal(sketch.quantile([0.0, 1.0]), [data.min(), data.max()])


@pytest.mark.parametrize("distribution", ["normal", "lognormal", "integers"])
def test_one_pass_and_merged_sketches_stay_within_their_proven_bound(distribution: str) -> None:
    rng = np.random.default_rng(7)
    n = 400_000
    data = {
        "normal": rng.normal(size=n),
        "lognormal": rng.lognormal(sigma=2, size=n),
        "integers": rng.integers(0, 20, size=n).astype(float),
    }[distribution]
    k = 512
    one = QuantileSketch.from_values(data, k)
    sequential = QuantileSketch(k)
    for chunk in np.array_split(data, 40):
        sequential = sequential.merge(QuantileSketch.from_values(chunk, k))
    parts = [QuantileSketch.from_values(c, k) for c in np.array_split(data, 13)]
    while len(parts) > 1:
        parts = [
            parts[i].merge(parts[i + 1]) if i + 1 < len(parts) else parts[i] for i in range(0, len(parts), 2)
        ]
    bound = (np.log2(n / k) + 1) / k  # the documented worst case after any sequence of merges
    for sketch in (one, sequential, parts[0]):
        assert sketch.n == n
        err = _cdf_error(sketch, data)
        assert err <= sketch.rank_error + 1e-12, (err, sketch.rank_error)
        assert sketch.rank_error <= bound
    assert one.rank_error <= 2 / k  # a single pass: about 1/k
    assert sum(len(lv) for lv in sequential.levels) <= k * len(sequential.levels)


def test_sketch_round_trips_through_json() -> None:
    sketch = QuantileSketch.from_values(np.random.default_rng(2).normal(size=20_000), k=64)
    again = QuantileSketch.from_dict(json.loads(json.dumps(sketch.to_dict())))
    assert again == sketch and again.error == sketch.error and again.n == 20_000


def test_sketches_of_different_sizes_do_not_merge() -> None:
    with pytest.raises(InvalidInput, match="different sizes"):
        QuantileSketch.from_values([1.0], k=16).merge(QuantileSketch.from_values([1.0], k=32))


@pytest.mark.parametrize("scale", [1e-6, 1.0, 3e4, 1e12])
def test_histogram_merge_equals_one_pass_exactly(scale: float) -> None:
    rng = np.random.default_rng(3)
    data = np.concatenate([rng.normal(-2, 1, 30_000), rng.exponential(5, 30_000)]) * scale
    rng.shuffle(data)
    whole = Histogram.from_values(data, max_bins=64)
    cuts = np.sort(rng.choice(len(data), size=9, replace=False))
    merged = None
    for chunk in np.split(data, cuts):
        part = Histogram.from_values(chunk, max_bins=64)
        merged = part if merged is None else merged.merge(part)
    assert merged == whole
    assert whole.counts.sum() == len(data) and len(whole.counts) <= 64
    edges = whole.edges
    assert edges[0] <= data.min() and data.max() < edges[-1]
    assert np.array_equal(np.histogram(data, bins=edges)[0], whole.counts)


def test_histograms_share_a_grid_for_comparison() -> None:
    a = Histogram.from_values(np.linspace(0, 1, 1000))
    b = Histogram.from_values(np.linspace(5, 100, 1000))
    ca, cb = Histogram.common(a, b)
    assert np.array_equal(ca.edges, cb.edges)
    assert ca.counts.sum() == cb.counts.sum() == 1000 and len(ca.counts) <= 64


def test_constant_and_single_value_histograms() -> None:
    h = Histogram.from_values(np.full(10, 7.25))
    assert h.counts.tolist() == [10] and h.edges[0] <= 7.25 < h.edges[1]
    zero = Histogram.from_values(np.zeros(3))
    assert zero.counts.sum() == 3
