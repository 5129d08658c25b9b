"""Drift: statistics against scipy, detection of injected shifts, false-positive control, bad input."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.spatial.distance import jensenshannon

import loopwright as lw
from loopwright.errors import InvalidInput
from loopwright.monitoring import DriftReport


def _mixed(
    n: int, seed: int, *, shift: float = 0.0, plan_p: tuple[float, ...] = (0.5, 0.3, 0.2)
) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "tenure": rng.gamma(2.0, 10.0, n) + shift * 14.0,  # shift is in units of the std (~14)
            "spend": rng.normal(50, 10, n),
            "plan": pd.Categorical(rng.choice(["basic", "plus", "pro"], n, p=list(plan_p))),
            "region": rng.choice(["n", "s", "e", "w"], n),
        }
    )


def test_statistics_agree_with_scipy_on_exact_samples() -> None:
    # up to sketch_size values per side the sketches are exact, so the numbers must match scipy's
    rng = np.random.default_rng(0)
    ref = pd.DataFrame({"x": rng.normal(0, 2, 800), "c": rng.choice(list("abc"), 800, p=[0.5, 0.3, 0.2])})
    cur = pd.DataFrame(
        {"x": rng.normal(0.4, 2, 600), "c": rng.choice(list("abcd"), 600, p=[0.4, 0.3, 0.2, 0.1])}
    )
    report = lw.drift(ref, cur)
    x, c = report.features["x"], report.features["c"]
    ks = stats.ks_2samp(ref["x"], cur["x"], method="exact")
    assert x.test == "ks" and x.statistic == pytest.approx(ks.statistic, abs=1e-12)
    assert x.p_value == pytest.approx(ks.pvalue, rel=0.05)  # Stephens' approximation vs the exact law
    w = stats.wasserstein_distance(ref["x"], cur["x"]) / ref["x"].std()
    assert x.wasserstein_norm == pytest.approx(w, rel=1e-9)
    table = np.array([[(ref["c"] == k).sum() for k in "abcd"], [(cur["c"] == k).sum() for k in "abcd"]])
    chi2, p, _, _ = stats.chi2_contingency(table, correction=False)
    assert c.test == "chi2" and c.statistic == pytest.approx(chi2) and c.p_value == pytest.approx(p)
    assert c.js_distance == pytest.approx(jensenshannon(table[0] / 800, table[1] / 600, base=2))
    shares = table / table.sum(axis=1, keepdims=True)
    ps, qs = np.maximum(shares[0], 1e-4), np.maximum(shares[1], 1e-4)
    psi = np.sum((qs - ps) * np.log(qs / ps))
    assert c.psi == pytest.approx(psi)
    adjusted = stats.false_discovery_control([x.p_value, c.p_value], method="bh")
    assert [x.p_adjusted, c.p_adjusted] == pytest.approx(list(adjusted))
    assert c.status == "new_categories" and "'d'" in c.message


def test_detects_an_injected_shift_in_a_known_column() -> None:
    ref = _mixed(50_000, 1)
    cur = _mixed(50_000, 2, shift=0.3, plan_p=(0.3, 0.3, 0.4))
    report = lw.drift(ref, cur)
    assert report.drifted_features == ["tenure", "plan"]
    assert report.drifted and report.share_drifted == 0.5
    assert report.features["tenure"].effect == "wasserstein_norm"
    assert report.features["tenure"].wasserstein_norm == pytest.approx(0.3, abs=0.03)
    assert report.features["tenure"].psi > 0.1
    assert report.features["plan"].effect == "js_distance" and report.features["plan"].js_distance >= 0.1
    for name in ("spend", "region"):
        f = report.features[name]
        assert f.status == "ok" and f.drifted is False and f.effect_size < 0.05
    frame = report.to_frame()
    assert list(frame.index) == ["tenure", "spend", "plan", "region"]
    assert frame.loc["tenure", "drifted"] and not frame.loc["spend", "drifted"]
    assert json.loads(json.dumps(report.to_dict()))["drifted_features"] == ["tenure", "plan"]


def test_no_false_positive_on_an_unshifted_column_with_a_million_rows() -> None:
    rng = np.random.default_rng(11)
    n = 1_000_000
    ref = pd.DataFrame({"stable": rng.normal(size=n), "cat": pd.Categorical(rng.choice(list("abcde"), n))})
    cur = pd.DataFrame({"stable": rng.normal(size=n), "cat": pd.Categorical(rng.choice(list("abcde"), n))})
    # a trivial shift: hugely "significant" at this size, but a hundredth of a standard deviation
    cur["trivial"] = rng.normal(0.01, 1, n)
    ref["trivial"] = rng.normal(0.0, 1, n)
    report = lw.drift(ref, cur)
    assert report.drifted_features == [] and report.drifted is False
    assert stats.ks_2samp(ref["trivial"], cur["trivial"]).pvalue < 1e-3  # a plain KS test would cry wolf
    for f in report.features.values():
        assert f.status == "ok" and f.drifted is False


def test_false_positive_rate_on_small_samples_is_controlled() -> None:
    # no drift at all: BH keeps the chance of flagging anything near alpha (0.05); the effect-size
    # threshold barely helps at this size, so this checks the significance half of the rule
    rng = np.random.default_rng(5)
    datasets = features = 0
    trials = 400
    for _ in range(trials):
        ref = pd.DataFrame(
            {"a": rng.normal(size=300), "b": rng.exponential(size=300), "c": rng.choice(list("xyz"), 300)}
        )
        cur = pd.DataFrame(
            {"a": rng.normal(size=200), "b": rng.exponential(size=200), "c": rng.choice(list("xyz"), 200)}
        )
        report = lw.drift(ref, cur)
        datasets += report.drifted
        features += len(report.drifted_features)
    assert features / (3 * trials) <= 0.05
    assert datasets / trials <= 0.05 + 2 * np.sqrt(0.05 * 0.95 / trials)  # alpha plus two binomial SEs


def test_profiles_and_frames_on_either_side_agree() -> None:
    ref, cur = _mixed(20_000, 3), _mixed(20_000, 4, shift=0.5)
    ref_profile, cur_profile = lw.profile(ref), lw.profile(cur)
    verdicts = [
        lw.drift(a, b).drifted_features
        for a, b in [(ref, cur), (ref_profile, cur), (ref, cur_profile), (ref_profile, cur_profile)]
    ]
    assert verdicts == [["tenure"]] * 4
    stored = lw.Profile.from_dict(json.loads(json.dumps(ref_profile.to_dict())))
    assert (
        lw.drift(stored, cur).features["tenure"].statistic == lw.drift(ref, cur).features["tenure"].statistic
    )


def test_prediction_drift_is_reported_and_makes_the_dataset_drift() -> None:
    rng = np.random.default_rng(8)
    ref = pd.DataFrame({"x": rng.normal(size=5000), "score": rng.beta(2, 5, 5000)})
    cur = pd.DataFrame({"x": rng.normal(size=5000), "score": rng.beta(5, 2, 5000)})
    report = lw.drift(ref, cur, prediction="score")
    assert report.prediction is not None and report.prediction.is_prediction and report.prediction.drifted
    assert report.drifted_features == [] and report.drifted
    assert "score" not in report.features and report.to_frame().loc["score", "is_prediction"]
    # a reference profile remembers its prediction column
    assert lw.drift(lw.profile(ref, prediction="score"), cur).prediction is not None


def test_dataset_verdict_follows_the_drift_share() -> None:
    ref, cur = _mixed(10_000, 5), _mixed(10_000, 6, shift=0.5)
    assert lw.drift(ref, cur).drifted
    relaxed = lw.drift(ref, cur, drift_share=0.5)
    assert relaxed.drifted_features == ["tenure"] and relaxed.share_drifted == 0.25 and not relaxed.drifted
    with pytest.raises(InvalidInput, match="drift_share"):
        lw.drift(ref, cur, drift_share=2)


# --- bad input: a clear status and message each, never a crash, never a silent "no drift" ---


def test_empty_current_window() -> None:
    ref = _mixed(1000, 1)
    report = lw.drift(ref, ref.iloc[:0])
    assert report.status == "empty" and not report.drifted and report.drifted_features == []
    assert all(f.status == "empty" and f.drifted is None for f in report.features.values())
    assert "current data has no rows" in " ".join(report.messages)
    assert report.features["tenure"].message == "the current data has no rows"
    assert lw.drift(ref.iloc[:0], ref).status == "empty"


def test_all_missing_column() -> None:
    ref = _mixed(2000, 1)
    cur = _mixed(2000, 2)
    cur["spend"] = np.nan
    cur["region"] = None
    report = lw.drift(ref, cur)
    for name in ("spend", "region"):
        f = report.features[name]
        assert f.status == "all_missing" and f.drifted is None and f.missing_current == 1.0
        assert f.message == "all values are missing in the current data (the reference data has 0.0% missing)"
        assert f.p_value is None and f.statistic is None
    assert {f.name for f in report.problems} == {"spend", "region"} and report.status == "partial"
    assert report.features["tenure"].status == "ok"
    assert "could not be tested: spend, region" in report.messages[-1]
    backwards = lw.drift(cur, ref).features["spend"]
    assert backwards.status == "all_missing" and backwards.drifted is None
    assert (
        backwards.message
        == "all values are missing in the reference data (the current data has 0.0% missing)"
    )


def test_feature_missing_from_current_data() -> None:
    ref = _mixed(2000, 1)
    report = lw.drift(ref, _mixed(2000, 2).drop(columns=["spend"]))
    f = report.features["spend"]
    assert f.status == "missing_in_current" and f.drifted is None
    assert f.message == "feature 'spend' is missing from the current data"
    assert report.features["tenure"].drifted is False


def test_category_never_seen_in_reference() -> None:
    ref = pd.DataFrame({"plan": ["basic", "pro"] * 2000})
    few = pd.DataFrame({"plan": ["basic", "pro"] * 1990 + ["enterprise"] * 20})
    many = pd.DataFrame({"plan": ["basic"] * 1000 + ["enterprise"] * 3000})
    small, big = lw.drift(ref, few).features["plan"], lw.drift(ref, many).features["plan"]
    for f in (small, big):
        assert f.status == "new_categories" and "never seen in the reference: 'enterprise'" in f.message
    assert small.drifted is False and big.drifted is True


def test_constant_columns() -> None:
    ref = pd.DataFrame({"k": np.full(3000, 2.0), "c": ["only"] * 3000, "x": np.arange(3000.0)})
    same = lw.drift(ref, ref.copy())
    assert same.features["k"].status == "constant" and same.features["k"].drifted is False
    assert "constant in the reference and the current data (value 2)" in same.features["k"].message
    assert same.features["c"].status == "constant" and same.features["c"].drifted is False
    assert same.features["k"].wasserstein_norm is None and same.features["k"].effect == "ks"
    moved = ref.copy()
    moved["k"] = np.where(np.arange(3000) % 2 == 0, 2.0, 5.0)
    moved["c"] = ["only", "new"] * 1500
    changed = lw.drift(ref, moved)
    assert changed.features["k"].status == "constant" and changed.features["k"].drifted is True
    assert "judged by the KS statistic" in changed.features["k"].message
    assert changed.features["c"].drifted is True
    assert changed.drifted_features == ["k", "c"]


def test_type_mismatch_and_bad_arguments() -> None:
    ref = pd.DataFrame({"x": np.arange(100.0)})
    report = lw.drift(ref, pd.DataFrame({"x": ["a"] * 100}))
    assert report.features["x"].status == "type_mismatch" and report.features["x"].drifted is None
    with pytest.raises(InvalidInput, match="reference must be"):
        lw.drift(42, ref)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="current must be"):
        lw.drift(ref, [1, 2])  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="alpha"):
        lw.drift(ref, ref, alpha=0)


def test_report_has_no_nan_anywhere() -> None:
    ref = _mixed(3000, 1)
    cur = _mixed(3000, 2).drop(columns=["region"])
    cur["spend"] = np.nan
    report: DriftReport = lw.drift(ref, cur)
    text = json.dumps(report.to_dict(), allow_nan=False)  # raises on NaN/inf
    assert "missing_in_current" in text and "all_missing" in text


def test_benjamini_hochberg_matches_scipy_across_many_features() -> None:
    rng = np.random.default_rng(21)
    shifts = np.linspace(0, 0.3, 12)
    ref = pd.DataFrame({f"f{i}": rng.normal(size=600) for i in range(12)})
    cur = pd.DataFrame({f"f{i}": rng.normal(s, 1, size=400) for i, s in enumerate(shifts)})
    report = lw.drift(ref, cur)
    p = [f.p_value for f in report.features.values()]
    expected = stats.false_discovery_control(p, method="bh")
    assert [f.p_adjusted for f in report.features.values()] == pytest.approx(list(expected), rel=1e-12)
    for f in report.features.values():
        assert f.drifted == (f.p_adjusted < 0.05 and f.wasserstein_norm >= 0.1)
