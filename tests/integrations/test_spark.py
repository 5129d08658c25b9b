"""Spark batch scoring and profiling on a real local[2] session (one per test run)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pyspark.sql import SparkSession

import loopwright as lw
from loopwright.errors import InvalidInput
from loopwright.integrations.spark import executor_errors, load_cached, predict_udf, profile_spark, score
from loopwright.monitoring.profile import CategoricalProfile, NumericProfile, Profile


@pytest.fixture(scope="session")
def spark() -> Iterator[SparkSession]:
    # pyproject filters PySpark's own warning, given on every conversion; this one says it once
    if int(pd.__version__.split(".")[0]) >= 3:
        warnings.warn(
            f"the Spark tests run on pandas {pd.__version__}, which PySpark does not support (it wants < 3; "
            "the spark extra pins that): `make test-spark` runs them on a supported pair",
            UserWarning,
            stacklevel=1,
        )
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # workers need this venv's packages
    session = (
        SparkSession.builder.master("local[2]")
        .appName("loopwright-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .getOrCreate()
    )
    yield session
    session.stop()


def _data(n: int = 400, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "tenure": rng.gamma(2, 10, n),
            "spend": rng.normal(50, 10, n),
            "plan": rng.choice(["basic", "pro", "max"], n),
        }
    )


def _register(train: pd.DataFrame, name: str = "churn", classifier: bool = True) -> None:
    """Register a new version of ``name`` trained on the numeric columns of ``train``."""
    from sklearn.linear_model import LinearRegression, LogisticRegression

    X = train[["tenure", "spend"]]
    if classifier:
        model = LogisticRegression().fit(X, np.where(X["tenure"] > 20, "stay", "leave"))
    else:
        model = LinearRegression().fit(X, X["tenure"] * 2)
    with lw.start_run() as run:
        lw.log_model(model, "model", input_example=X.head(3))
    lw.register_model(f"runs:/{run.id}/model", name)


def test_score_matches_load_model(
    sqlite_env: Path, spark: SparkSession, capsys: pytest.CaptureFixture[str]
) -> None:
    data = _data()
    _register(data)
    lw.set_alias("churn", "champion", 1)
    sdf = spark.createDataFrame(data).repartition(3)
    scored = score(sdf, "models:/churn@champion", proba=True)
    assert scored.schema["prediction"].metadata["loopwright"] == {
        "model_uri": "models:/churn/1",
        "model_version": 1,
        "manifest_digest": lw.load_model("models:/churn/1").manifest_digest,
    }
    scored.explain()
    assert capsys.readouterr().out.count("MapInArrow ") == 1  # labels and probabilities: one Python pass
    got = scored.toPandas().sort_values(["tenure", "spend"]).reset_index(drop=True)
    expected = data.sort_values(["tenure", "spend"]).reset_index(drop=True)
    model = lw.load_model("models:/churn/1")
    X = expected[["tenure", "spend"]]
    assert list(got.columns) == ["tenure", "spend", "plan", "prediction", "proba_leave", "proba_stay"]
    assert got["prediction"].tolist() == model.predict(X).tolist()
    np.testing.assert_allclose(got[["proba_leave", "proba_stay"]].to_numpy(), model.predict_proba(X))
    # the pandas UDF on its own: labels keep their type, called with the signature's columns
    udf = predict_udf(spark, "models:/churn/1")
    assert udf.model.columns == ["tenure", "spend"]  # type: ignore[attr-defined]
    labels = sdf.select(udf("tenure", "spend").alias("p")).toPandas()["p"]
    assert sorted(labels) == sorted(model.predict(data[["tenure", "spend"]]).tolist())


def test_alias_is_pinned_on_the_driver(sqlite_env: Path, spark: SparkSession) -> None:
    data = _data(200)
    _register(data, "price", classifier=False)
    _register(data.assign(tenure=data["tenure"] * 3), "price", classifier=False)
    lw.set_alias("price", "champion", 1)
    scored = score(spark.createDataFrame(data), "models:/price@champion")
    lw.set_alias("price", "champion", 2)  # moves before the job runs: the plan keeps version 1
    got = scored.toPandas()
    expected = lw.load_model("models:/price/1").predict(got[["tenure", "spend"]])
    np.testing.assert_allclose(got["prediction"], expected)
    assert scored.schema["prediction"].metadata["loopwright"]["model_version"] == 1
    # executors cache by manifest digest: a second load is the same object
    pinned = lw.load_model("models:/price/1")
    home = sqlite_env
    first = load_cached(
        "models:/price/1",
        pinned.manifest_digest,
        f"sqlite:///{home}/loopwright.db",
        str(home / "artifacts"),
        False,
    )
    assert (
        load_cached("models:/price/1", pinned.manifest_digest, "unused", str(home / "artifacts"), False)
        is first
    )


def test_errors_name_the_column(sqlite_env: Path, spark: SparkSession) -> None:
    data = _data(50)
    _register(data)
    # the schema is checked on the driver, before any job
    with pytest.raises(InvalidInput, match=r"lacks .*input column\(s\) 'spend'"):
        score(spark.createDataFrame(data.drop(columns="spend")), "models:/churn/1")
    wrong = spark.createDataFrame(data.assign(spend=data["spend"].astype(str)))
    with pytest.raises(
        InvalidInput, match=r"does not fit .*signature: column 'spend': expected float64, got string values$"
    ):
        score(wrong, "models:/churn/1")
    # a row the signature refuses is only seen on an executor: the same error, not a PythonException
    holes = spark.createDataFrame(data.assign(spend=np.where(data.index == 7, np.nan, data["spend"])))
    refused = r"column 'spend': missing value .* on a Spark executor"
    with pytest.raises(InvalidInput, match=refused), executor_errors():
        score(holes, "models:/churn/1").collect()
    with pytest.raises(InvalidInput, match="already has a column 'plan'"):
        score(spark.createDataFrame(data), "models:/churn/1", output_col="plan")


def test_profile_spark_equals_profile_from_frame(spark: SparkSession) -> None:
    data = _data(5000, seed=1)
    data.loc[::97, "spend"] = np.nan
    data.loc[::89, "plan"] = None
    expected = Profile.from_frame(data)
    got = profile_spark(spark.createDataFrame(data).repartition(4))
    assert got.n_rows == expected.n_rows and set(got.features) == set(expected.features)
    for name in ("tenure", "spend"):
        g, e = got.features[name], expected.features[name]
        assert isinstance(g, NumericProfile) and isinstance(e, NumericProfile)
        assert (g.count, g.missing, g.min, g.max) == (e.count, e.missing, e.min, e.max)
        assert g.mean == pytest.approx(e.mean) and g.std == pytest.approx(e.std)
        values = np.sort(data[name].dropna().to_numpy())
        for q in (0.1, 0.5, 0.9):
            rank = np.searchsorted(values, float(g.sketch.quantile(q))) / len(values)
            assert abs(rank - q) <= g.sketch.error + 1 / len(values)
    plan = got.features["plan"]
    assert isinstance(plan, CategoricalProfile)
    assert plan.to_dict() == expected.features["plan"].to_dict()
    empty = profile_spark(spark.createDataFrame(data).limit(0))
    assert empty.n_rows == 0 and empty.features["plan"].kind == "categorical"


def test_lw_profile_and_drift_accept_spark(sqlite_env: Path, spark: SparkSession) -> None:
    train = _data(600, seed=2)
    _register(train)
    lw.set_alias("churn", "champion", 1)
    stored = lw.profile(spark.createDataFrame(train), model="models:/churn/1")
    assert stored.prediction == "prediction" and stored.n_rows == 600
    client = lw.get_client()
    ref = client.store.get_artifact("model_version", "churn/1", "profile.json")
    assert json.loads(client.blobs.get_bytes(ref.digest)) == stored.to_dict()
    same = lw.drift("models:/churn@champion", current=spark.createDataFrame(_data(600, seed=3)))
    assert not same.drifted
    shifted = spark.createDataFrame(train.assign(spend=train["spend"] + 25))
    report = lw.drift("models:/churn@champion", current=shifted)
    assert report.drifted_features == ["spend"]
    assert report.current.n_rows == 600 and report.prediction is not None


@pytest.mark.timeout(600)
def test_cli_spark_score(sqlite_env: Path, tmp_path: Path) -> None:
    data = _data(300)
    _register(data)
    lw.set_alias("churn", "champion", 1)
    source, output = tmp_path / "data.parquet", tmp_path / "preds.parquet"
    data.to_parquet(source)
    env = {**os.environ, "LOOPWRIGHT_HOME": str(sqlite_env), "COLUMNS": "200"}
    cli = [sys.executable, "-m", "loopwright.cli", "spark", "score", "models:/churn@champion"]
    done = subprocess.run(
        [*cli, "--input", str(source), "--output", str(output), "--master", "local[2]", "--proba"],
        env=env,
        capture_output=True,
        text=True,
        timeout=270,  # a Spark JVM of its own: a minute idle, longer on a loaded machine
    )
    assert done.returncode == 0, done.stderr
    assert "models:/churn/1" in done.stdout and "300" in done.stdout
    got = pd.read_parquet(output).sort_values(["tenure", "spend"]).reset_index(drop=True)
    expected = data.sort_values(["tenure", "spend"]).reset_index(drop=True)
    assert (
        got["prediction"].tolist()
        == lw.load_model("models:/churn/1").predict(expected[["tenure", "spend"]]).tolist()
    )
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp dir left
    again = subprocess.run(
        [*cli, "--input", str(tmp_path / "nope.parquet"), "--output", str(tmp_path / "x.parquet")],
        env=env,
        capture_output=True,
        text=True,
        timeout=270,  # a Spark JVM of its own: a minute idle, longer on a loaded machine
    )
    assert again.returncode == 1 and again.stderr.count("\n") == 1 and "nope.parquet" in again.stderr


def test_evaluate_collects_a_small_spark_frame_and_predict_points_at_score(
    sqlite_env: Path, spark: SparkSession
) -> None:
    from loopwright.frames import spark_to_pandas

    train = _data(300, seed=4)
    _register(train)
    labelled = train.assign(label=np.where(train["tenure"] > 20, "stay", "leave"))
    on_spark = lw.evaluate(
        "models:/churn/1", spark.createDataFrame(labelled), target="label", latency_sample=5
    )
    local = lw.evaluate("models:/churn/1", labelled, target="label", latency_sample=5)
    assert on_spark.metrics["accuracy"] == local.metrics["accuracy"]
    with pytest.raises(InvalidInput, match=r"more than 100 rows.*loopwright\.integrations\.spark\.score"):
        spark_to_pandas(spark.createDataFrame(labelled), limit=100)
    model = lw.load_model("models:/churn/1")
    with pytest.raises(
        InvalidInput, match=r"not a Spark DataFrame.*integrations\.spark\.score.*loopwright spark score"
    ):
        model.predict(spark.createDataFrame(train[["tenure", "spend"]]))
    # a Spark reference: registered with it, and compared with it
    source = lw.get_model_version("churn", 1).source
    mv = lw.register_model(source, "churn", reference_data=spark.createDataFrame(train[["tenure", "spend"]]))
    assert lw.drift(mv.uri, train[["tenure", "spend"]]).reference.n_rows == 300
    assert lw.drift(
        spark.createDataFrame(train), train.assign(spend=train["spend"] + 25)
    ).drifted_features == ["spend"]
