"""Drift of input texts: the distance between reference and current embedding distributions.

Each text becomes a 384-dimensional unit vector of the bundled all-MiniLM-L6-v2
(:mod:`loopwright.llm.embeddings`, offline); the two samples are compared with the maximum mean
discrepancy (MMD) under an RBF kernel whose bandwidth is the median distance between the pooled
vectors. The p-value comes from a permutation test (the texts' side labels shuffled
``permutations`` times over the same kernel matrix), so it is exact for the sample sizes given, with
no distributional assumption.

The decision rule is the tabular one (:mod:`loopwright.monitoring.drift`): **drifted** when the
p-value is below ``alpha`` *and* the effect size, MMD² (unbiased estimate: about 0 for two samples
of one distribution, at most 2), reaches ``threshold`` (default 0.05: resamples of one topic stay
within a few hundredths of 0, a change of topic lands at 0.2 and above). Each side is subsampled to ``max_texts``
(default 1000) so the kernel matrix stays small.

The result is a :class:`~loopwright.monitoring.drift.DriftReport` with one feature (``name``,
kind ``text``, test ``mmd_permutation``), so gates, checks and HTML reports read it like any
other; its profiles summarise the texts' word counts.

Examples
--------
>>> sports = [f"The team won the match {i} to nil after a late goal." for i in range(30)]
>>> cooking = [f"Simmer the sauce for {i} minutes and season with salt." for i in range(30)]
>>> text_drift(sports[:15], cooking[:15]).drifted
True
>>> text_drift(sports[::2], sports[1::2]).verdict
'no drift'
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from loopwright.errors import InvalidInput
from loopwright.monitoring.drift import DriftReport, FeatureDrift
from loopwright.monitoring.reference import profile

DEFAULT_THRESHOLD = 0.05
MAX_TEXTS = 1000


def text_drift(
    reference: Any,
    current: Any,
    *,
    name: str = "text",
    alpha: float = 0.05,
    threshold: float = DEFAULT_THRESHOLD,
    permutations: int = 500,
    max_texts: int = MAX_TEXTS,
    seed: int = 0,
) -> DriftReport:
    """Compare two samples of texts by their embeddings (MMD with a permutation test).

    Parameters
    ----------
    reference, current:
        A list (or Series, or one-column frame) of strings each; missing values are dropped.
    name:
        The feature name in the report.
    alpha:
        Significance level of the permutation test.
    threshold:
        Smallest MMD² counted as drift (the effect size; see the module docstring).
    permutations:
        Shuffles of the side labels for the p-value (its resolution is ``1 / (permutations + 1)``).
    max_texts:
        Texts used per side at most (a seeded random subsample beyond it).
    seed:
        Seed of the subsample and of the permutations: the same inputs give the same report.

    Returns
    -------
    DriftReport
        One feature; ``report.features[name].statistic`` is MMD², ``p_value`` its permutation p-value.
    """
    from loopwright.llm.embeddings import embed

    if not 0 < alpha < 1:
        raise InvalidInput(f"alpha must be between 0 and 1, got {alpha}")
    if permutations < 1 or max_texts < 2:
        raise InvalidInput("permutations must be at least 1 and max_texts at least 2")
    rng = np.random.default_rng(seed)
    ref, cur = _texts(reference, "reference", rng, max_texts), _texts(current, "current", rng, max_texts)
    out = FeatureDrift(name=name, kind="text", status="ok", n_reference=len(ref), n_current=len(cur))
    messages: list[str] = []
    if len(ref) < 2 or len(cur) < 2:
        out.status, out.drifted = "empty", None
        out.message = f"needs at least 2 texts per side (reference {len(ref)}, current {len(cur)})"
        messages.append(out.message)
    else:
        vectors = embed(ref + cur).astype(np.float64)
        mmd2, p_value = mmd_test(vectors, len(ref), permutations, rng)
        out.test, out.statistic, out.p_value, out.p_adjusted = "mmd_permutation", mmd2, p_value, p_value
        out.effect, out.effect_size, out.threshold = "mmd2", mmd2, threshold
        out.drifted = bool(p_value < alpha and mmd2 >= threshold)
    words = [profile(pd.DataFrame({"words": [len(t.split()) for t in side]})) for side in (ref, cur)]
    drifted = bool(out.drifted)
    return DriftReport({name: out}, drifted, None, float(drifted), 0.0, alpha, words[0], words[1], messages)


def mmd_test(
    vectors: np.ndarray, n_reference: int, permutations: int, rng: np.random.Generator
) -> tuple[float, float]:
    """MMD² (unbiased) of the first ``n_reference`` rows against the rest, and its permutation p-value.

    >>> rng = np.random.default_rng(0)
    >>> a, b = rng.normal(size=(50, 3)), rng.normal(1.0, 1.0, size=(50, 3))
    >>> mmd2, p = mmd_test(np.vstack([a, b]), 50, 200, rng)
    >>> mmd2 > 0.1, p < 0.01
    (True, True)
    """
    squared = np.maximum(
        (vectors**2).sum(1)[:, None] + (vectors**2).sum(1)[None, :] - 2 * vectors @ vectors.T, 0.0
    )
    upper = squared[np.triu_indices_from(squared, k=1)]
    bandwidth = float(np.median(upper[upper > 0])) if np.any(upper > 0) else 1.0  # median heuristic
    kernel = np.exp(-squared / bandwidth)
    np.fill_diagonal(kernel, 0.0)  # the unbiased estimate leaves out each text's kernel with itself
    n = len(vectors)
    labels = np.zeros(n, dtype=bool)
    labels[:n_reference] = True
    observed = _mmd2(kernel, labels)
    exceed = 0
    for _ in range(permutations):
        if _mmd2(kernel, rng.permutation(labels)) >= observed:
            exceed += 1
    return observed, (exceed + 1) / (permutations + 1)


def _mmd2(kernel: np.ndarray, side: np.ndarray) -> float:
    # mean k(x, x') + mean k(y, y') - 2 mean k(x, y) over distinct pairs; the diagonal is zero
    x, y = side.astype(np.float64), (~side).astype(np.float64)
    m, n = x.sum(), y.sum()
    kx = kernel @ x
    return float(x @ kx / (m * (m - 1)) + y @ (kernel @ y) / (n * (n - 1)) - 2 * y @ kx / (m * n))


def _texts(values: Any, what: str, rng: np.random.Generator, limit: int) -> list[str]:
    if isinstance(values, pd.DataFrame):
        if values.shape[1] != 1:
            raise InvalidInput(f"{what} texts: give one column of strings, not {values.shape[1]} columns")
        values = values.iloc[:, 0]
    if isinstance(values, str) or not isinstance(values, Sequence | pd.Series | np.ndarray):
        raise InvalidInput(f"{what} texts must be a list of strings, got {type(values).__name__}")
    texts = [v for v in list(values) if v is not None and not (isinstance(v, float) and np.isnan(v))]
    wrong = next((v for v in texts if not isinstance(v, str)), None)
    if wrong is not None:
        raise InvalidInput(f"{what} texts must be strings, found {type(wrong).__name__} {wrong!r:.40}")
    if len(texts) > limit:
        texts = [texts[i] for i in sorted(rng.choice(len(texts), limit, replace=False))]
    return texts


__all__ = ["mmd_test", "text_drift"]
