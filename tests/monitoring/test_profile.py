"""Profiles: one pass equals chunks merged, JSON round trips, kinds, and clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import loopwright as lw
from loopwright.errors import InvalidInput, NotFound
from loopwright.monitoring import CategoricalProfile, NumericProfile, Profile


def _frame(n: int = 120_000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    income = rng.lognormal(10, 1, n)
    income[rng.random(n) < 0.05] = np.nan
    age = pd.array(rng.integers(18, 90, n), dtype="Int64")
    age[rng.random(n) < 0.02] = pd.NA
    plan = pd.Categorical(rng.choice(["basic", "plus", "pro"], n, p=[0.6, 0.3, 0.1]))
    region = rng.choice(["north", "south", "east", "west", None], n).astype(object)
    return pd.DataFrame(
        {
            "income": income,
            "age": age,
            "score": rng.normal(0, 1, n).astype(np.float32),
            "plan": plan,
            "region": region,
            "flag": rng.random(n) < 0.3,
            "proba": rng.random(n),
        }
    )


def test_chunked_profile_merges_to_the_one_pass_profile() -> None:
    df = _frame()
    one = Profile.from_frame(df, prediction="proba")
    chunks = [df.iloc[i : i + 17_000] for i in range(0, len(df), 17_000)]
    merged = lw.profile(chunks, prediction="proba")
    assert merged.n_rows == one.n_rows == len(df)
    assert merged.prediction == "proba" and set(merged.features) == set(one.features)
    for name, a in one.features.items():
        b = merged.features[name]
        assert type(a) is type(b)
        # exactly mergeable statistics
        assert (a.count, a.missing) == (b.count, b.missing), name
        if isinstance(a, NumericProfile):
            assert isinstance(b, NumericProfile)
            assert (a.min, a.max) == (b.min, b.max)
            assert a.histogram == b.histogram
            # floating-point rounding only
            assert b.mean == pytest.approx(a.mean, rel=1e-10, abs=1e-12)
            assert b.std == pytest.approx(a.std, rel=1e-9)
            # the sketch: within its proven rank-error bound of the exact data
            values = np.sort(df[name].to_numpy(dtype=float, na_value=np.nan))
            values = values[np.isfinite(values)]
            probes = np.quantile(values, np.linspace(0, 1, 501))
            exact = np.searchsorted(values, probes, side="right") / len(values)
            assert np.abs(b.sketch.cdf(probes) - exact).max() <= b.sketch.rank_error + 1e-12
            assert b.sketch.rank_error < 0.01
        else:
            assert isinstance(a, CategoricalProfile) and isinstance(b, CategoricalProfile)
            assert a.counts == b.counts and a.other == b.other


def test_profile_statistics_match_pandas() -> None:
    df = _frame(20_000, seed=1)
    p = lw.profile(df)
    income = p.features["income"]
    assert isinstance(income, NumericProfile)
    assert income.count == df["income"].count() and income.missing == df["income"].isna().sum()
    assert income.mean == pytest.approx(df["income"].mean(), rel=1e-12)
    assert income.std == pytest.approx(df["income"].std(), rel=1e-9)
    assert income.missing_rate == pytest.approx(df["income"].isna().mean())
    region = p.features["region"]
    assert isinstance(region, CategoricalProfile)
    assert region.counts == df["region"].value_counts().to_dict()
    assert region.missing == df["region"].isna().sum()
    assert [p.features[c].kind for c in ("age", "score", "plan", "flag")] == [
        "numeric",
        "numeric",
        "categorical",
        "categorical",
    ]
    summary = p.to_frame()
    assert summary.loc["income", "mean"] == pytest.approx(df["income"].mean())
    assert summary.loc["plan", "top"] == "basic"


def test_profile_round_trips_through_json() -> None:
    p = lw.profile(_frame(5_000), categorical=["age"], prediction="proba")
    text = json.dumps(p.to_dict())
    again = Profile.from_dict(json.loads(text))
    assert json.dumps(again.to_dict()) == text
    assert again.prediction == "proba" and again.features["age"].kind == "categorical"


def test_top_k_categories_keep_the_rest_as_other() -> None:
    df = pd.DataFrame({"c": [f"k{i % 30}" for i in range(3000)] + ["rare"]})
    p = Profile.from_frame(df, max_categories=10)
    c = p.features["c"]
    assert isinstance(c, CategoricalProfile)
    assert len(c.counts) == 10 and c.count == 3001 and c.other == 3001 - 1000


def test_profiles_of_empty_and_all_missing_frames() -> None:
    empty = lw.profile(pd.DataFrame({"x": pd.Series([], dtype=float), "c": pd.Series([], dtype=object)}))
    assert empty.n_rows == 0 and empty.features["x"].count == 0
    nan = lw.profile(pd.DataFrame({"x": [np.nan, np.inf, -np.inf]}))
    x = nan.features["x"]
    assert isinstance(x, NumericProfile) and x.count == 0 and x.missing == 3 and x.histogram is None
    assert json.loads(json.dumps(nan.to_dict()))["features"]["x"]["min"] is None
    both = nan.merge(lw.profile(pd.DataFrame({"x": [1.0, 2.0]})))
    assert both.features["x"].count == 2 and both.features["x"].missing == 3


def test_clear_errors() -> None:
    df = pd.DataFrame({"x": [1.0], "y": ["a"]})
    with pytest.raises(InvalidInput, match="columns not in the data: nope"):
        lw.profile(df, categorical=["nope"])
    with pytest.raises(InvalidInput, match="different columns"):
        lw.profile(df).merge(lw.profile(df[["x"]]))
    with pytest.raises(InvalidInput, match="numeric in one profile, categorical"):
        lw.profile(df).merge(lw.profile(df, categorical=["x"]))
    with pytest.raises(InvalidInput, match="different settings"):
        lw.profile(df).merge(lw.profile(df, sketch_size=64))
    with pytest.raises(InvalidInput, match="not a Loopwright profile"):
        Profile.from_dict({"features": {}})
    with pytest.raises(InvalidInput, match=r"data must be a pandas, polars or pyarrow table.*got int"):
        lw.profile(42)


def _registered_model(n: int = 300) -> pd.DataFrame:
    """Train and register ``churn`` version 1 (alias champion); return its training frame."""
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(4)
    train = pd.DataFrame({"tenure": rng.gamma(2, 10, n), "spend": rng.normal(50, 10, n)})
    target = (train["tenure"] > 20).astype(int)
    with lw.start_run() as run:
        lw.log_model(LogisticRegression().fit(train, target), "model", input_example=train.head(3))
    lw.register_model(f"runs:/{run.id}/model", "churn")
    lw.set_alias("churn", "champion", 1)
    return train


def test_reference_profile_is_stored_with_the_model_version(lw_env: Path) -> None:
    train = _registered_model()
    stored = lw.profile(train, model="models:/churn/1")
    client = lw.get_client()
    ref = client.store.get_artifact("model_version", "churn/1", "profile.json")
    assert json.loads(client.blobs.get_bytes(ref.digest)) == stored.to_dict()

    shifted = train.assign(tenure=train["tenure"] + 15)
    report = lw.drift("models:/churn@champion", shifted)
    assert report.drifted_features == ["tenure"]
    assert report.reference.to_dict() == stored.to_dict()
    # gc keeps the blob: an artifacts row owns it
    lw.gc(grace_seconds=0)
    assert lw.drift(reference="models:/churn/1", current=train).drifted is False
    # storing again replaces the version's profile
    lw.profile(train.head(100), model="models:/churn@champion")
    assert lw.drift("models:/churn/1", train).reference.n_rows == 100


def test_model_reference_errors(lw_env: Path) -> None:
    df = pd.DataFrame({"x": [1.0, 2.0]})
    with pytest.raises(InvalidInput, match="invalid model URI"):
        lw.profile(df, model="churn")
    with pytest.raises(NotFound):
        lw.profile(df, model="models:/nope/1")
    _registered_model(50)
    with pytest.raises(NotFound, match="models:/churn/1 has no reference profile"):
        lw.drift("models:/churn@champion", df)
    with pytest.raises(NotFound):
        lw.drift("models:/churn@nobody", df)


def test_register_model_stores_the_reference_profile(lw_env: Path) -> None:
    train = _registered_model()
    with pytest.raises(
        InvalidInput, match=r"reference_data must be a pandas, polars or pyarrow .*got numpy\.ndarray"
    ):
        lw.register_model("runs:/x/model", "churn", reference_data=train.to_numpy())
    assert lw.get_registered_model("churn").latest_version == 1  # nothing registered by the refusal
    source = lw.get_model_version("churn", 1).source
    mv = lw.register_model(source, "churn", reference_data=train)
    reference = lw.drift(mv.uri, train).reference
    assert reference.n_rows == len(train)
    assert "prediction" in reference.features  # the version's own predictions are profiled too
    assert lw.drift(mv.uri, train.assign(spend=train["spend"] * 3)).drifted_features == ["spend"]
