"""The model both sides of bench/load_predict.py train: same data, same seed, same forest."""

import statistics
import time

import numpy as np
from sklearn.datasets import make_classification
from sklearn.ensemble import RandomForestClassifier

X, y = make_classification(n_samples=3000, n_features=20, n_informative=10, random_state=0)
forest = RandomForestClassifier(n_estimators=100, random_state=0).fit(X, y)
ROW = X[:1].copy()
BATCH = X[:1000].copy()
# proves both venvs trained the identical forest (rows of predict_proba sum to 1, so weight them)
CHECKSUM = float(forest.predict_proba(X[:100])[:, 1] @ np.arange(100))


def timed(fn, repeat):
    """Median and p99 milliseconds of ``repeat`` calls (one untimed call first)."""
    fn()
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    samples.sort()
    return {
        "median_ms": statistics.median(samples) * 1e3,
        "p99_ms": samples[int(0.99 * (len(samples) - 1))] * 1e3,
    }


def median_ms(fn, repeat):
    """Median milliseconds of ``repeat`` calls of ``fn`` (no warm-up: loads are meant cold-ish)."""
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1e3
