"""Compact, mergeable profiles of a DataFrame: the reference side of every drift comparison.

A :class:`Profile` holds, per numeric feature, the count, missing count, min, max, mean and sum of
squared deviations (merged with Chan's formula), a :class:`~loopwright.monitoring.sketch.QuantileSketch`
(CDF and quantiles for Kolmogorov-Smirnov, Wasserstein, PSI and Jensen-Shannon) and an aligned
:class:`~loopwright.monitoring.histogram.Histogram` (charts); per categorical feature the top-K
category counts, an "other" count and the missing count. A prediction column is profiled like a
feature and remembered as the prediction.

Merging is what makes profiles scale: profile chunks (or Spark partitions) and ``merge`` them.
Exactly mergeable: counts, missing counts, min, max, histogram bins, category counts while a feature
has at most ``max_categories`` categories. Mergeable to floating-point rounding: mean and std.
Mergeable within the sketch's rank-error bound (see ``sketch.py``): quantiles.

Non-finite numbers (NaN, ±inf) and missing categories count as missing. Datetime columns are not
profiled (their values move with the clock, so they always "drift").

Examples
--------
>>> import pandas as pd
>>> df = pd.DataFrame({"age": [31, 45, None, 52], "plan": ["a", "b", "a", None]})
>>> p = Profile.from_frame(df)
>>> p.n_rows, p.features["age"].count, p.features["plan"].counts
(4, 3, {'a': 2, 'b': 1})
>>> q = Profile.from_frame(df.iloc[:2]).merge(Profile.from_frame(df.iloc[2:]))
>>> q.features["plan"].counts == p.features["plan"].counts, q.features["age"].max
(True, 52.0)
>>> Profile.from_dict(p.to_dict()).features["age"].mean == p.features["age"].mean
True
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from loopwright.errors import InvalidInput
from loopwright.monitoring.histogram import Histogram
from loopwright.monitoring.sketch import QuantileSketch

log = logging.getLogger(__name__)

FORMAT = "loopwright.profile"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class ProfileSettings:
    """How features were summarised; merged profiles must share them."""

    sketch_size: int = 1024
    bins: int = 64
    max_categories: int = 100


@dataclass(eq=False)
class NumericProfile:
    """Summary of one numeric column."""

    count: int
    missing: int
    min: float = math.nan
    max: float = math.nan
    mean: float = math.nan
    m2: float = 0.0  # sum of squared deviations from the mean
    sketch: QuantileSketch = field(default_factory=QuantileSketch)
    histogram: Histogram | None = None

    kind = "numeric"

    @classmethod
    def from_values(cls, values: npt.NDArray[np.float64], settings: ProfileSettings) -> NumericProfile:
        """Profile a float array; NaN and ±inf count as missing."""
        ordered = np.sort(values)  # the one pass that costs: NaN sorts last, -inf first, +inf before NaN
        lo = int(np.searchsorted(ordered, -np.inf, side="right"))
        hi = int(np.searchsorted(ordered, np.inf, side="left"))
        kept = ordered[lo:hi]
        count = len(kept)
        missing = len(values) - count
        if count == 0:
            return cls(count=0, missing=missing, sketch=QuantileSketch(settings.sketch_size))
        mean = float(kept.mean())
        deviations = kept - mean
        return cls(
            count=count,
            missing=missing,
            min=float(kept[0]),
            max=float(kept[-1]),
            mean=mean,
            m2=float(deviations @ deviations),
            sketch=QuantileSketch.from_sorted(kept, settings.sketch_size),
            histogram=Histogram.from_sorted(kept, settings.bins),
        )

    @property
    def std(self) -> float:
        """Sample standard deviation (NaN with fewer than two values)."""
        return math.sqrt(self.m2 / (self.count - 1)) if self.count > 1 else math.nan

    @property
    def missing_rate(self) -> float:
        total = self.count + self.missing
        return self.missing / total if total else math.nan

    def merge(self, other: NumericProfile) -> NumericProfile:
        """Summary of both inputs (Chan's parallel update for mean and m2)."""
        if other.count == 0 or self.count == 0:
            full, empty = (self, other) if other.count == 0 else (other, self)
            return NumericProfile(
                count=full.count,
                missing=self.missing + other.missing,
                min=full.min,
                max=full.max,
                mean=full.mean,
                m2=full.m2,
                sketch=full.sketch.merge(empty.sketch),
                histogram=full.histogram,
            )
        n = self.count + other.count
        delta = other.mean - self.mean
        assert self.histogram is not None and other.histogram is not None
        return NumericProfile(
            count=n,
            missing=self.missing + other.missing,
            min=min(self.min, other.min),
            max=max(self.max, other.max),
            mean=self.mean + delta * other.count / n,
            m2=self.m2 + other.m2 + delta * delta * self.count * other.count / n,
            sketch=self.sketch.merge(other.sketch),
            histogram=self.histogram.merge(other.histogram),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "count": self.count,
            "missing": self.missing,
            "min": _json_float(self.min),
            "max": _json_float(self.max),
            "mean": _json_float(self.mean),
            "m2": self.m2,
            "sketch": self.sketch.to_dict(),
            "histogram": self.histogram.to_dict() if self.histogram is not None else None,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NumericProfile:
        return cls(
            count=int(data["count"]),
            missing=int(data["missing"]),
            min=_float(data["min"]),
            max=_float(data["max"]),
            mean=_float(data["mean"]),
            m2=float(data["m2"]),
            sketch=QuantileSketch.from_dict(data["sketch"]),
            histogram=Histogram.from_dict(data["histogram"]) if data.get("histogram") else None,
        )


@dataclass(eq=False)
class CategoricalProfile:
    """Summary of one categorical column: top categories (as strings), "other" and missing counts."""

    counts: dict[str, int]
    other: int = 0
    missing: int = 0

    kind = "categorical"

    @classmethod
    def from_series(cls, series: pd.Series, settings: ProfileSettings) -> CategoricalProfile:
        """Count categories through integer codes (no per-row Python, no object-dtype copies)."""
        if isinstance(series.dtype, pd.CategoricalDtype):
            codes = series.cat.codes.to_numpy()
            labels = pd.Index(series.cat.categories)
        else:
            codes, uniques = pd.factorize(series, use_na_sentinel=True)
            labels = pd.Index(uniques)
        tally = np.bincount(codes.astype(np.int64) + 1, minlength=len(labels) + 1)
        counts: dict[str, int] = {}
        for label, n in zip(labels, tally[1:].tolist(), strict=True):
            if n:
                key = str(label)
                counts[key] = counts.get(key, 0) + n
        return cls._top(counts, 0, int(tally[0]), settings.max_categories)

    @classmethod
    def _top(cls, counts: dict[str, int], other: int, missing: int, limit: int) -> CategoricalProfile:
        ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        kept = dict(ranked[:limit])
        return cls(kept, other + sum(n for _, n in ranked[limit:]), missing)

    @property
    def count(self) -> int:
        """Non-missing values."""
        return sum(self.counts.values()) + self.other

    @property
    def missing_rate(self) -> float:
        total = self.count + self.missing
        return self.missing / total if total else math.nan

    def merge(self, other: CategoricalProfile, max_categories: int) -> CategoricalProfile:
        """Summary of both inputs; exact while the union has at most ``max_categories`` categories."""
        counts = dict(self.counts)
        for key, n in other.counts.items():
            counts[key] = counts.get(key, 0) + n
        return CategoricalProfile._top(
            counts, self.other + other.other, self.missing + other.missing, max_categories
        )

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "counts": self.counts, "other": self.other, "missing": self.missing}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CategoricalProfile:
        return cls(
            {str(k): int(v) for k, v in data["counts"].items()}, int(data["other"]), int(data["missing"])
        )


FeatureProfile = NumericProfile | CategoricalProfile


@dataclass(eq=False)
class Profile:
    """A mergeable, JSON-serialisable summary of a DataFrame (see the module docstring).

    Examples
    --------
    >>> import pandas as pd, loopwright as lw
    >>> df = pd.DataFrame({"age": [31, 45, None, 52], "plan": ["a", "b", "a", None]})
    >>> p = lw.profile(df)
    >>> p.n_rows, p.features["age"].count, p.features["plan"].counts
    (4, 3, {'a': 2, 'b': 1})
    >>> lw.Profile.from_dict(p.to_dict()).n_rows
    4
    """

    n_rows: int
    features: dict[str, FeatureProfile]
    prediction: str | None = None
    settings: ProfileSettings = field(default_factory=ProfileSettings)

    @classmethod
    def from_frame(
        cls,
        df: pd.DataFrame,
        categorical: Sequence[str] | None = None,
        prediction: str | None = None,
        *,
        columns: Sequence[str] | None = None,
        sketch_size: int = 1024,
        bins: int = 64,
        max_categories: int = 100,
    ) -> Profile:
        """Profile ``df`` column by column (no whole-frame copies).

        Parameters
        ----------
        df : pandas.DataFrame
            The data; may have zero rows.
        categorical : list of str, optional
            Columns to treat as categorical. By default non-numeric columns (strings, categories,
            booleans, objects) are categorical and numeric columns numeric.
        prediction : str, optional
            Name of the prediction column; profiled like a feature and remembered as the prediction.
        columns : list of str, optional
            Profile only these columns (default: all but datetime columns).
        sketch_size : int
            Quantile sketch size ``k`` (rank error about ``1/k``).
        bins : int
            Maximum histogram bins per numeric feature.
        max_categories : int
            Categories kept per categorical feature; rarer ones are summed into "other".

        Returns
        -------
        Profile

        Examples
        --------
        >>> import pandas as pd
        >>> p = Profile.from_frame(pd.DataFrame({"x": [1.0, 2.0], "y": [0, 1]}), categorical=["y"])
        >>> p.features["x"].kind, p.features["y"].kind
        ('numeric', 'categorical')
        """
        if not isinstance(df, pd.DataFrame):
            raise InvalidInput(f"expected a pandas DataFrame, got {type(df).__name__}")
        settings = ProfileSettings(sketch_size, bins, max_categories)
        names = [str(c) for c in (columns if columns is not None else df.columns)]
        wanted = set(names) | set(categorical or ()) | ({prediction} if prediction else set())
        absent = sorted(wanted - {str(c) for c in df.columns})
        if absent:
            raise InvalidInput(f"columns not in the data: {', '.join(absent)}")
        if prediction and prediction not in names:
            names.append(prediction)
        features: dict[str, FeatureProfile] = {}
        for name in names:
            series = df[name]
            kind = feature_kind(series, categorical)
            if kind is None:
                log.info("not profiling column %r of dtype %s", name, series.dtype)
                continue
            if kind == "categorical":
                features[name] = CategoricalProfile.from_series(series, settings)
            else:
                features[name] = NumericProfile.from_values(_as_float(series), settings)
        return cls(len(df), features, prediction, settings)

    @property
    def categorical(self) -> list[str]:
        """Names of the categorical features."""
        return [n for n, f in self.features.items() if f.kind == "categorical"]

    def merge(self, other: Profile) -> Profile:
        """A profile of both inputs' rows; both must have the same columns, kinds and settings."""
        if self.settings != other.settings:
            raise InvalidInput(
                f"cannot merge profiles built with different settings: {self.settings} vs {other.settings}"
            )
        if set(self.features) != set(other.features):
            differ = sorted(set(self.features) ^ set(other.features))
            raise InvalidInput(f"cannot merge profiles with different columns: {', '.join(differ)}")
        merged: dict[str, FeatureProfile] = {}
        for name, mine in self.features.items():
            theirs = other.features[name]
            if isinstance(mine, NumericProfile) and isinstance(theirs, NumericProfile):
                merged[name] = mine.merge(theirs)
            elif isinstance(mine, CategoricalProfile) and isinstance(theirs, CategoricalProfile):
                merged[name] = mine.merge(theirs, self.settings.max_categories)
            else:
                raise InvalidInput(
                    f"cannot merge feature {name!r}: {mine.kind} in one profile, {theirs.kind} in the other"
                )
        return Profile(self.n_rows + other.n_rows, merged, self.prediction or other.prediction, self.settings)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (``json.dumps`` works on it as is)."""
        return {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "n_rows": self.n_rows,
            "prediction": self.prediction,
            "settings": {
                "sketch_size": self.settings.sketch_size,
                "bins": self.settings.bins,
                "max_categories": self.settings.max_categories,
            },
            "features": {name: f.to_dict() for name, f in self.features.items()},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Profile:
        """Inverse of :meth:`to_dict`; refuses documents that are not profiles."""
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise InvalidInput("not a Loopwright profile (missing format 'loopwright.profile')")
        if data.get("version") != FORMAT_VERSION:
            raise InvalidInput(f"unsupported profile version {data.get('version')!r}")
        features: dict[str, FeatureProfile] = {}
        for name, f in data["features"].items():
            if f.get("kind") == "numeric":
                features[name] = NumericProfile.from_dict(f)
            elif f.get("kind") == "categorical":
                features[name] = CategoricalProfile.from_dict(f)
            else:
                raise InvalidInput(f"feature {name!r} has unknown kind {f.get('kind')!r}")
        return cls(int(data["n_rows"]), features, data.get("prediction"), ProfileSettings(**data["settings"]))

    def to_frame(self) -> pd.DataFrame:
        """One row per feature: kind, count, missing rate, mean, std, min, median, max, top category."""
        rows = []
        for name, f in self.features.items():
            row: dict[str, Any] = {
                "feature": name,
                "kind": f.kind,
                "count": f.count,
                "missing_rate": f.missing_rate,
            }
            if isinstance(f, NumericProfile):
                median = float(f.sketch.quantile(0.5)) if f.count else math.nan
                row.update(mean=f.mean, std=f.std, min=f.min, median=median, max=f.max)
            else:
                row["top"] = next(iter(f.counts), None)
                row["categories"] = len(f.counts) + (f.other > 0)
            rows.append(row)
        return pd.DataFrame(rows).set_index("feature") if rows else pd.DataFrame()

    def __repr__(self) -> str:
        return f"Profile(n_rows={self.n_rows}, features={len(self.features)}, prediction={self.prediction!r})"


def feature_kind(series: pd.Series, categorical: Sequence[str] | None) -> str | None:
    """``"numeric"``, ``"categorical"`` or ``None`` (not profiled) for one column."""
    if categorical is not None and series.name in categorical:
        return "categorical"
    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return "categorical"
    if pd.api.types.is_datetime64_any_dtype(dtype) or pd.api.types.is_timedelta64_dtype(dtype):
        return None
    if pd.api.types.is_numeric_dtype(dtype):
        return "numeric"
    return "categorical"


def profile_chunks(
    chunks: Iterable[pd.DataFrame],
    categorical: Sequence[str] | None = None,
    prediction: str | None = None,
    **options: Any,
) -> Profile:
    """Profile an iterable of DataFrames (e.g. Parquet row groups) by merging per-chunk profiles."""
    result: Profile | None = None
    kinds = categorical
    for chunk in chunks:
        part = Profile.from_frame(chunk, kinds, prediction, **options)
        if result is None:
            result = part
            # keep kinds stable across chunks: what the first chunk made categorical stays so
            kinds = kinds if kinds is not None else part.categorical
        else:
            result = result.merge(part)
    if result is None:
        raise InvalidInput("no chunks to profile")
    return result


def _as_float(series: pd.Series) -> npt.NDArray[np.float64]:
    """The column as float64, without a copy when it already is one."""
    dtype = series.dtype
    if isinstance(dtype, np.dtype) and dtype.kind in "iuf":
        return series.to_numpy(copy=False).astype(np.float64, copy=False)
    return series.to_numpy(dtype=np.float64, na_value=np.nan)


def _json_float(value: float) -> float | None:
    return None if math.isnan(value) else value


def _float(value: float | None) -> float:
    return math.nan if value is None else float(value)
