"""Data and prediction drift between a reference and a current dataset, from their profiles.

Both sides become :class:`~loopwright.monitoring.profile.Profile` objects first (a DataFrame is
profiled column by column; a Profile is used as is), so comparing a million rows costs one sort per
column and everything after that works on sketches of about a thousand points.

Per feature
-----------
numeric
    two-sample Kolmogorov-Smirnov test on the sketches' CDFs (``statistic`` = D, ``p_value``), the
    Wasserstein-1 distance divided by the reference standard deviation (``wasserstein_norm``), PSI
    and Jensen-Shannon distance (base 2, in [0, 1]) on ten reference-decile bins.
categorical
    chi-square test of homogeneity on the category counts (``statistic`` = chi², ``p_value``), PSI
    and Jensen-Shannon distance on the category shares.

The decision rule
-----------------
With millions of rows every p-value is tiny, so significance alone flags shifts nobody cares about;
with a few hundred rows effect sizes are noisy, so an effect-size threshold alone raises false
alarms. A feature is **drifted** when *both* hold:

1. its p-value, adjusted with Benjamini-Hochberg across all tested features (and the prediction),
   is below ``alpha`` (default 0.05: the expected share of false discoveries among flagged
   features stays at or below 5%), and
2. its effect size reaches the threshold: ``wasserstein_norm >= 0.1`` for numeric features (the
   distributions are a tenth of a reference standard deviation apart, e.g. a mean shift of 0.1 standard deviations),
   ``js_distance >= 0.1`` for categorical features. When the reference is constant (no standard
   deviation to normalise by), the KS statistic D itself is the effect size (threshold 0.1).

Small samples are thus guarded by the test, large ones by the effect size, with one rule. KS
p-values are computed from D minus both sketches' proven rank-error bounds, so they are
conservative (never smaller than an exact test on the same data would give, up to the asymptotic
approximation). The dataset is drifted when the share of drifted features is at least
``drift_share`` and at least one feature drifted (default 0: any drifted feature), or when the
prediction drifted.

Bad input never crashes and never turns into a silent "no drift": every feature carries a
``status`` — ``ok``, ``new_categories`` (tested; categories unseen in the reference are listed in
``message``), ``constant`` (tested as described above), ``empty`` (a side has no rows),
``all_missing`` (a side has no non-missing values), ``missing_in_current`` /
``missing_in_reference`` (the column is absent on one side), ``type_mismatch`` — and features that
cannot be tested have ``drifted = None`` with a message, listed in ``DriftReport.problems``. Then,
unless a tested feature drifted, the verdict is ``"cannot judge"`` (not "no drift") and
``DriftReport.passed`` is false: a broken schema must fail a check, not pass it.

Examples
--------
>>> import numpy as np, pandas as pd
>>> rng = np.random.default_rng(0)
>>> ref = pd.DataFrame({"a": rng.normal(size=5000), "b": rng.normal(size=5000)})
>>> cur = pd.DataFrame({"a": rng.normal(0.5, 1, size=5000), "b": rng.normal(size=5000)})
>>> report = drift(ref, cur)
>>> report.drifted, report.drifted_features
(True, ['a'])
>>> report.features["b"].status, report.features["b"].drifted
('ok', False)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import special

from loopwright.errors import InvalidInput
from loopwright.frames import to_pandas
from loopwright.monitoring.profile import CategoricalProfile, NumericProfile, Profile
from loopwright.monitoring.reference import (
    PREDICTION,
    add_model_predictions,
    is_spark_dataframe,
    load_profile,
)
from loopwright.registry.client import RegistryClient

if TYPE_CHECKING:
    from pyspark.sql import DataFrame as SparkDataFrame
from loopwright.monitoring.report import write_report

FloatArray = npt.NDArray[np.float64]
PSI_BINS = 10
PSI_EPS = 1e-4  # floor for empty bins so PSI stays finite


@dataclass
class FeatureDrift:
    """The drift verdict and statistics of one feature (or of the prediction)."""

    name: str
    kind: str
    status: str
    drifted: bool | None = None
    test: str | None = None
    statistic: float | None = None
    p_value: float | None = None
    p_adjusted: float | None = None
    effect: str | None = None
    effect_size: float | None = None
    threshold: float | None = None
    psi: float | None = None
    js_distance: float | None = None
    wasserstein_norm: float | None = None
    n_reference: int = 0
    n_current: int = 0
    missing_reference: float | None = None
    missing_current: float | None = None
    message: str = ""
    is_prediction: bool = False

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-serialisable values (no NaN)."""
        return {
            k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in asdict(self).items()
        }


@dataclass(eq=False)
class DriftReport:
    """Result of :func:`drift`: per-feature verdicts, the dataset verdict and both profiles.

    Examples
    --------
    >>> import numpy as np, pandas as pd, loopwright as lw
    >>> rng = np.random.default_rng(0)
    >>> ref = pd.DataFrame({"tenure": rng.normal(24, 6, 3000), "plan": rng.choice(["a", "b"], 3000)})
    >>> cur = ref.assign(tenure=ref["tenure"] + 6)
    >>> report = lw.drift(ref, cur)
    >>> report.drifted, report.drifted_features, report.features["plan"].status
    (True, ['tenure'], 'ok')
    >>> bool(report.to_frame().loc["tenure", "drifted"])
    True
    """

    features: dict[str, FeatureDrift]
    drifted: bool
    prediction: FeatureDrift | None
    share_drifted: float
    drift_share: float
    alpha: float
    reference: Profile
    current: Profile
    messages: list[str] = field(default_factory=list)

    @property
    def drifted_features(self) -> list[str]:
        """Names of drifted features, in column order (the prediction is reported separately)."""
        return [name for name, f in self.features.items() if f.drifted]

    @property
    def problems(self) -> list[FeatureDrift]:
        """Features (and the prediction) that could not be tested, with their status and message."""
        everything = [*self.features.values(), *([self.prediction] if self.prediction else [])]
        return [f for f in everything if f.drifted is None]

    @property
    def status(self) -> str:
        """``"ok"``, ``"empty"`` (a side has no rows) or ``"partial"`` (some features untestable)."""
        if self.reference.n_rows == 0 or self.current.n_rows == 0:
            return "empty"
        return "partial" if self.problems else "ok"

    @property
    def verdict(self) -> str:
        """``"drift"``, ``"no drift"``, ``"cannot judge"`` or ``"no verdict"``.

        ``"drift"`` wins whenever a tested feature (or the prediction) drifted, even if others could
        not be tested. Otherwise any untestable feature (missing on a side, another type, no values)
        makes it ``"cannot judge"``: a broken schema is not "no drift". ``"no verdict"`` means nothing
        at all could be tested (no rows on a side, or every feature untestable).
        """
        everything = [*self.features.values(), *([self.prediction] if self.prediction else [])]
        if self.status == "empty" or all(f.drifted is None for f in everything):
            return "no verdict"
        if self.drifted:
            return "drift"
        return "cannot judge" if self.problems else "no drift"

    @property
    def passed(self) -> bool:
        """True only for the verdict ``"no drift"``: what a gate or a CI check should require.

        ``report.drifted`` stays a plain "did a tested feature drift"; ``passed`` is also false when
        the data could not be judged.
        """
        return self.verdict == "no drift"

    def headline(self) -> str:
        """The verdict in one line, naming the drifted and the untestable features.

        Examples
        --------
        >>> import pandas as pd
        >>> ref = pd.DataFrame({"a": [1.0, 2.0, 3.0] * 100, "b": [0.5, 1.5, 2.5] * 100})
        >>> drift(ref, ref[["a"]]).headline()
        'CANNOT JUDGE: could not test b (missing_in_current); none of the 1 of 2 features tested drifted'
        """
        verdict = self.verdict
        if verdict == "no verdict":
            return "NO VERDICT: no feature could be tested (see the statuses), which is not 'no drift'"
        untested = _named([f"{f.name} ({f.status})" for f in self.problems])
        if verdict == "cannot judge":
            tested = len(self.features) - sum(f.drifted is None for f in self.features.values())
            return (
                f"CANNOT JUDGE: could not test {untested}; "
                f"none of the {tested} of {len(self.features)} features tested drifted"
            )
        drifted = self.drifted_features
        line = f"{len(drifted)} of {len(self.features)} features drifted"
        if verdict == "no drift":
            return f"no drift: {line}"
        line += f" ({_named(drifted)})" if drifted else ""
        line += ", and the prediction" if self.prediction is not None and self.prediction.drifted else ""
        return f"DRIFT: {line}" + (f"; could not test {untested}" if self.problems else "")

    def to_frame(self) -> pd.DataFrame:
        """One row per feature (the prediction last), indexed by name."""
        rows = [f.to_dict() for f in self.features.values()]
        if self.prediction is not None:
            rows.append(self.prediction.to_dict())
        return pd.DataFrame(rows, columns=list(FeatureDrift.__dataclass_fields__)).set_index("name")

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable summary without the profiles (what a monitoring window stores)."""
        return {
            "drifted": self.drifted,
            "verdict": self.verdict,
            "status": self.status,
            "share_drifted": self.share_drifted,
            "drift_share": self.drift_share,
            "alpha": self.alpha,
            "n_reference": self.reference.n_rows,
            "n_current": self.current.n_rows,
            "drifted_features": self.drifted_features,
            "problems": [{"name": f.name, "status": f.status, "message": f.message} for f in self.problems],
            "messages": list(self.messages),
            "features": {name: f.to_dict() for name, f in self.features.items()},
            "prediction": self.prediction.to_dict() if self.prediction else None,
        }

    def to_html(self, path: str | Path, title: str = "Drift report") -> Path:
        """Write a self-contained offline HTML report (charts from the profiles, no raw rows)."""
        return write_report(path, self, title=title)

    def __repr__(self) -> str:
        return (
            f"DriftReport(drifted={self.drifted}, drifted_features={self.drifted_features}, "
            f"features={len(self.features)}, status={self.status!r})"
        )


def drift(
    reference: Any,
    current: Any,
    *,
    categorical: Sequence[str] | None = None,
    prediction: str | None = None,
    columns: Sequence[str] | None = None,
    alpha: float = 0.05,
    numeric_threshold: float = 0.1,
    categorical_threshold: float = 0.1,
    drift_share: float = 0.0,
    kind: str = "tabular",
) -> DriftReport:
    """Compare ``current`` data with ``reference`` data, feature by feature.

    Parameters
    ----------
    reference : frame, path, records, Profile or str
        The reference data (a pandas, polars or pyarrow table, a ``.parquet``/``.csv`` path, a list
        of records or a dict of columns: anything :func:`loopwright.frames.to_pandas` takes), its
        profile, or a model URI (``"models:/churn@champion"``) whose version carries a stored
        reference profile. When that profile has the version's predictions and ``current`` is data
        without a ``prediction`` column, the version predicts on ``current`` so the prediction
        distribution is compared too.
    current : frame, path, records, Profile or Spark DataFrame
        The data to check, in any of the reference's forms; a Spark DataFrame is profiled on Spark (see
        :func:`loopwright.integrations.spark.profile_spark`), scored there when the reference
        profile has predictions.
    categorical : list of str, optional
        Columns to treat as categorical (default: non-numeric columns).
    prediction : str, optional
        The prediction column (default: the reference profile's prediction, if any).
    columns : list of str, optional
        Compare only these features (default: all the reference has).
    alpha : float
        False discovery rate for the Benjamini-Hochberg-adjusted p-values.
    numeric_threshold, categorical_threshold : float
        Minimum effect size: normalised Wasserstein distance (numeric), Jensen-Shannon distance
        (categorical).
    drift_share : float
        Share of drifted features at or above which the dataset counts as drifted (0: any feature).
    kind : str
        ``"tabular"``, or ``"text"``: ``reference`` and ``current`` are lists of texts compared by
        their embeddings (:func:`loopwright.monitoring.text.text_drift`, MMD with a permutation test).

    Returns
    -------
    DriftReport

    Examples
    --------
    >>> import pandas as pd
    >>> ref = pd.DataFrame({"plan": ["a", "b"] * 500})
    >>> cur = pd.DataFrame({"plan": ["a"] * 900 + ["c"] * 100})
    >>> r = drift(ref, cur)
    >>> r.drifted_features, r.features["plan"].status
    (['plan'], 'new_categories')
    >>> r.features["plan"].message
    "1 category never seen in the reference: 'c'"
    """
    if kind == "text":
        from loopwright.monitoring.text import text_drift

        return text_drift(reference, current, alpha=alpha)
    if kind != "tabular":
        raise InvalidInput(f"kind must be 'tabular' or 'text', got {kind!r}")
    if not 0 < alpha < 1:
        raise InvalidInput(f"alpha must be between 0 and 1, got {alpha}")
    if not 0 <= drift_share <= 1:
        raise InvalidInput(f"drift_share must be between 0 and 1, got {drift_share}")
    ref = _reference_profile(reference, categorical, prediction, columns)
    pred_name = prediction or ref.prediction
    if is_spark_dataframe(current):
        cur = _spark_profile(reference, current, ref, categorical, pred_name)
    else:
        local = current if isinstance(current, Profile) else to_pandas(current, what="current")
        if (
            _is_model_uri(reference)
            and isinstance(local, pd.DataFrame)
            and pred_name == PREDICTION
            and PREDICTION not in local.columns
        ):
            # the version's reference profile has its predictions: compare them with its predictions now
            local = add_model_predictions(reference, local)
        cur = _current_profile(local, ref, categorical, pred_name)
    names = list(columns) if columns is not None else list(ref.features)
    if pred_name and pred_name not in names:
        names.append(pred_name)

    messages: list[str] = []
    results: list[FeatureDrift] = []
    for name in names:
        result = _compare(name, ref, cur, numeric_threshold, categorical_threshold)
        result.is_prediction = name == pred_name
        results.append(result)
    _adjust(results)
    for r in results:
        if r.drifted is not None:
            r.drifted = bool(r.p_adjusted is not None and r.p_adjusted < alpha and _reaches(r))

    if ref.n_rows == 0:
        messages.append("reference data has no rows: nothing to compare against")
    if cur.n_rows == 0:
        messages.append("current data has no rows: nothing to compare")
    features = {r.name: r for r in results if not r.is_prediction}
    pred = next((r for r in results if r.is_prediction), None)
    assessed = [f for f in features.values() if f.drifted is not None]
    n_drifted = sum(bool(f.drifted) for f in assessed)
    share = n_drifted / len(assessed) if assessed else 0.0
    untested = [f.name for f in results if f.drifted is None and f.status != "empty"]
    if untested:
        messages.append(f"{len(untested)} feature(s) could not be tested: {', '.join(untested)}")
    dataset = (n_drifted > 0 and share >= drift_share) or bool(pred is not None and pred.drifted)
    return DriftReport(features, dataset, pred, share, drift_share, alpha, ref, cur, messages)


def _is_model_uri(reference: Any) -> bool:
    """Whether ``reference`` names a model version (any other string is a data file's path)."""
    return isinstance(reference, str) and reference.startswith("models:/")


def _reference_profile(
    reference: Any,
    categorical: Sequence[str] | None,
    prediction: str | None,
    columns: Sequence[str] | None,
) -> Profile:
    if isinstance(reference, Profile):
        return reference
    if _is_model_uri(reference):
        return load_profile(reference)
    if is_spark_dataframe(reference):
        from loopwright.integrations.spark import profile_spark  # the one upward call, as for current

        cols = None if columns is None else [c for c in columns if c in reference.columns]
        return profile_spark(reference, columns=cols, categorical=categorical, prediction=prediction)
    frame = to_pandas(reference, what="reference")
    cols = None if columns is None else [c for c in columns if c in frame.columns]
    return Profile.from_frame(frame, categorical, prediction, columns=cols)


def _spark_profile(
    reference: Any,
    current: SparkDataFrame,
    ref: Profile,
    categorical: Sequence[str] | None,
    prediction: str | None,
) -> Profile:
    """Profile a Spark DataFrame the way the reference was profiled (scored on Spark when needed)."""
    from loopwright.integrations.spark import profile_spark, with_spark_predictions

    if _is_model_uri(reference) and prediction == PREDICTION and PREDICTION not in current.columns:
        current, _ = with_spark_predictions(current, RegistryClient().resolve(reference).uri, {})
    kinds = sorted(set(ref.categorical) | set(categorical or ()))
    present = [c for c in current.columns if c in ref.features]
    s = ref.settings
    return profile_spark(
        current,
        columns=present,
        categorical=[k for k in kinds if k in present],
        prediction=prediction if prediction in present else None,
        sketch_size=s.sketch_size,
        bins=s.bins,
        max_categories=s.max_categories,
    )


def _current_profile(
    current: pd.DataFrame | Profile, ref: Profile, categorical: Sequence[str] | None, prediction: str | None
) -> Profile:
    if isinstance(current, Profile):
        return current
    if not isinstance(current, pd.DataFrame):
        raise InvalidInput(f"current must be a DataFrame or a Profile, got {type(current).__name__}")
    # profile the current data the way the reference was profiled: same kinds, same settings
    kinds = sorted(set(ref.categorical) | set(categorical or ()))
    present = [str(c) for c in current.columns if str(c) in ref.features]
    s = ref.settings
    return Profile.from_frame(
        current,
        [k for k in kinds if k in present],
        prediction if prediction in present else None,
        columns=present,
        sketch_size=s.sketch_size,
        bins=s.bins,
        max_categories=s.max_categories,
    )


def _compare(
    name: str, ref: Profile, cur: Profile, num_threshold: float, cat_threshold: float
) -> FeatureDrift:
    r, c = ref.features.get(name), cur.features.get(name)
    either = r if r is not None else c
    kind = either.kind if either is not None else "unknown"
    base = FeatureDrift(name, kind, "ok")
    if r is not None:
        base.n_reference, base.missing_reference = r.count, _rate(r.missing_rate)
    if c is not None:
        base.n_current, base.missing_current = c.count, _rate(c.missing_rate)
    if ref.n_rows == 0 or cur.n_rows == 0:
        side = "reference" if ref.n_rows == 0 else "current"
        return _untestable(base, "empty", f"the {side} data has no rows")
    if r is None and c is None:
        return _untestable(base, "missing_in_reference", f"feature {name!r} is in neither dataset")
    if c is None:
        return _untestable(base, "missing_in_current", f"feature {name!r} is missing from the current data")
    if r is None:
        return _untestable(base, "missing_in_reference", f"feature {name!r} is not in the reference data")
    if r.kind != c.kind:
        return _untestable(
            base, "type_mismatch", f"{r.kind} in the reference but {c.kind} in the current data"
        )
    if r.count == 0 or c.count == 0:
        sides = [s for s, f in (("reference", r), ("current", c)) if f.count == 0]
        other, side = (r, "reference") if r.count else (c, "current")
        detail = f" (the {side} data has {other.missing_rate:.1%} missing)" if other.count else ""
        return _untestable(
            base, "all_missing", f"all values are missing in the {' and '.join(sides)} data{detail}"
        )
    if isinstance(r, NumericProfile) and isinstance(c, NumericProfile):
        return _numeric(base, r, c, num_threshold)
    assert isinstance(r, CategoricalProfile) and isinstance(c, CategoricalProfile)
    return _categorical(base, r, c, cat_threshold)


def _numeric(out: FeatureDrift, r: NumericProfile, c: NumericProfile, threshold: float) -> FeatureDrift:
    rv, rcum = r.sketch.weighted()
    cv, ccum = c.sketch.weighted()
    grid = np.union1d(rv, cv)
    fr = _step_cdf(rv, rcum, grid)
    fc = _step_cdf(cv, ccum, grid)
    gap = np.abs(fr - fc)
    d = float(gap.max())
    # conservative p-value: the sketches can overstate D by at most their rank-error bounds
    d_low = max(0.0, d - r.sketch.rank_error - c.sketch.rank_error)
    out.test, out.statistic, out.p_value = "ks", d, _ks_pvalue(d_low, r.count, c.count)
    wasserstein = float(np.sum(gap[:-1] * np.diff(grid)))
    edges = np.unique(r.sketch.quantile(np.linspace(0, 1, PSI_BINS + 1)[1:-1]))
    pr = np.diff(np.concatenate([[0.0], r.sketch.cdf(edges), [1.0]]))
    pc = np.diff(np.concatenate([[0.0], c.sketch.cdf(edges), [1.0]]))
    out.psi, out.js_distance = _psi(pr, pc), _js(pr, pc)
    out.threshold = threshold
    std = r.std
    if r.min == r.max or not std > 0:
        out.status, out.effect, out.effect_size = "constant", "ks", d
        same = c.min == c.max == r.min
        out.message = (
            f"constant in the reference and the current data (value {r.min:g})"
            if same
            else f"constant in the reference (value {r.min:g}): judged by the KS statistic"
        )
    else:
        out.wasserstein_norm = wasserstein / std
        out.effect, out.effect_size = "wasserstein_norm", out.wasserstein_norm
    out.drifted = False
    return out


def _categorical(
    out: FeatureDrift, r: CategoricalProfile, c: CategoricalProfile, threshold: float
) -> FeatureDrift:
    # a category the reference lumped into "other" cannot be told apart from a new one: fold it in
    known = list(r.counts)
    unseen = [k for k in c.counts if k not in r.counts]
    ref_counts = [r.counts[k] for k in known] + [r.other]
    cur_counts = [c.counts.get(k, 0) for k in known] + [c.other]
    if r.other == 0:
        ref_counts += [0] * len(unseen)
        cur_counts += [c.counts[k] for k in unseen]
    else:
        cur_counts[-1] += sum(c.counts[k] for k in unseen)
    table = np.array([ref_counts, cur_counts], dtype=np.float64)
    table = table[:, table.sum(axis=0) > 0]
    pr, pc = table[0] / table[0].sum(), table[1] / table[1].sum()
    out.psi, out.js_distance = _psi(pr, pc), _js(pr, pc)
    out.effect, out.effect_size, out.threshold = "js_distance", out.js_distance, threshold
    if r.other == 0 and unseen:
        out.status = "new_categories"
        shown = ", ".join(repr(k) for k in unseen[:10]) + (", …" if len(unseen) > 10 else "")
        noun = "category" if len(unseen) == 1 else "categories"
        out.message = f"{len(unseen)} {noun} never seen in the reference: {shown}"
    if table.shape[1] < 2:
        out.status, out.test, out.statistic, out.p_value = "constant", "chi2", 0.0, 1.0
        only = known[0] if known else "other"
        out.message = f"a single category ({only!r}) in both datasets"
    else:
        out.test = "chi2"
        out.statistic, out.p_value = _chi2_homogeneity(table)
        if len(r.counts) + (r.other > 0) == 1 and out.status == "ok":
            out.status, out.message = "constant", "a single category in the reference"
    out.drifted = False
    return out


def _step_cdf(values: FloatArray, cum: FloatArray, x: FloatArray) -> FloatArray:
    idx = np.searchsorted(values, x, side="right")
    return np.asarray(np.concatenate([[0.0], cum])[idx] / cum[-1], dtype=np.float64)


def _ks_pvalue(d: float, n: int, m: int) -> float:
    """Two-sample KS p-value: Kolmogorov's limit law with Stephens' small-sample correction."""
    root = math.sqrt(n * m / (n + m))
    return float(special.kolmogorov((root + 0.12 + 0.11 / root) * d))


def _chi2_homogeneity(table: FloatArray) -> tuple[float, float]:
    """Pearson's chi-square test that both rows of a 2xC count table share one distribution."""
    expected = table.sum(axis=1, keepdims=True) * table.sum(axis=0, keepdims=True) / table.sum()
    chi2 = float(np.sum((table - expected) ** 2 / expected))
    return chi2, float(special.chdtrc(table.shape[1] - 1, chi2))


def _psi(p: FloatArray, q: FloatArray) -> float:
    p, q = np.maximum(p, PSI_EPS), np.maximum(q, PSI_EPS)
    return float(np.sum((q - p) * np.log(q / p)))


def _js(p: FloatArray, q: FloatArray) -> float:
    """Jensen-Shannon distance in bits (0 = identical, 1 = disjoint)."""
    m = (p + q) / 2
    divergence = (special.rel_entr(p, m).sum() + special.rel_entr(q, m).sum()) / (2 * math.log(2))
    return float(math.sqrt(max(divergence, 0.0)))


def _adjust(results: list[FeatureDrift]) -> None:
    """Benjamini-Hochberg adjusted p-values across every tested feature."""
    tested = [r for r in results if r.p_value is not None]
    if not tested:
        return
    p = np.array([r.p_value for r in tested], dtype=np.float64)
    order = np.argsort(p)
    scaled = p[order] * len(p) / np.arange(1, len(p) + 1)
    adjusted = np.empty_like(p)
    adjusted[order] = np.minimum(np.minimum.accumulate(scaled[::-1])[::-1], 1.0)
    for r, value in zip(tested, adjusted.tolist(), strict=True):
        r.p_adjusted = value


def _reaches(r: FeatureDrift) -> bool:
    return r.effect_size is not None and r.threshold is not None and r.effect_size >= r.threshold


def _untestable(out: FeatureDrift, status: str, message: str) -> FeatureDrift:
    out.status, out.message, out.drifted = status, message, None
    return out


def _named(names: Sequence[str], shown: int = 10) -> str:
    """The first ``shown`` names and how many more: a headline stays one line however many there are."""
    more = len(names) - shown
    return ", ".join(names[:shown]) + (f" +{more} more" if more > 0 else "")


def _rate(value: float) -> float | None:
    return None if math.isnan(value) else value


__all__ = ["DriftReport", "FeatureDrift", "drift"]
