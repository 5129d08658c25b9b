"""Every frame a user has: pandas, polars, pyarrow, Parquet/CSV paths, records and dicts of columns reach
``lw.evaluate``, ``lw.profile``, ``lw.drift``, ``lw.register_model(reference_data=…)``, ``lw.log_dataset``
and ``LoadedModel.predict`` as the same data (issue 12 item 5)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest
from sklearn.linear_model import LogisticRegression

import loopwright as lw
from loopwright.errors import InvalidInput
from loopwright.frames import to_pandas


def _train(n: int = 200) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    frame = pd.DataFrame({"tenure": rng.gamma(2, 10, n).round(3), "plan": rng.choice(["a", "b", "c"], n)})
    return frame.assign(churned=(frame["tenure"] > 20).astype(np.int64))


def _parquet(frame: pd.DataFrame, folder: Path) -> Path:
    path = folder / "data.parquet"
    frame.to_parquet(path, index=False)
    return path


def _csv(frame: pd.DataFrame, folder: Path) -> Path:
    path = folder / "data.csv"
    frame.to_csv(path, index=False)
    return path


#: each form a user may hold the same rows in: name -> maker(frame, tmp folder)
FORMS: dict[str, Callable[[pd.DataFrame, Path], Any]] = {
    "pandas": lambda f, _: f,
    "polars": lambda f, _: pl.from_pandas(f),
    "polars-lazy": lambda f, _: pl.from_pandas(f).lazy(),
    "pyarrow": lambda f, _: pa.Table.from_pandas(f, preserve_index=False),
    "parquet-path": _parquet,
    "parquet-str": lambda f, d: str(_parquet(f, d)),
    "csv-path": _csv,
    "records": lambda f, _: f.to_dict(orient="records"),
    "columns": lambda f, _: f.to_dict(orient="list"),
}


@pytest.fixture
def churn(sqlite_env: Path) -> pd.DataFrame:
    """``churn`` version 1, a classifier on tenure; returns its training frame (with the label)."""
    train = _train()
    with lw.start_run() as run:
        model = LogisticRegression().fit(train[["tenure"]], train["churned"])
        lw.log_model(model, "model", input_example=train[["tenure"]].head(3))
    lw.register_model(f"runs:/{run.id}/model", "churn")
    return train


@pytest.mark.parametrize("form", FORMS)
def test_to_pandas_gives_the_same_rows_for_every_form(form: str, tmp_path: Path) -> None:
    train = _train(20)
    frame = to_pandas(FORMS[form](train, tmp_path))
    assert frame.columns.tolist() == ["tenure", "plan", "churned"]
    assert frame["tenure"].tolist() == train["tenure"].tolist()
    assert frame["plan"].astype(str).tolist() == train["plan"].tolist()


@pytest.mark.parametrize("form", FORMS)
def test_every_entry_point_takes_every_form(form: str, churn: pd.DataFrame, tmp_path: Path) -> None:
    data = FORMS[form](churn, tmp_path)
    # evaluate: the metrics are those of the pandas frame
    result = lw.evaluate("models:/churn/1", data, target="churned", latency_sample=5)
    expected = lw.evaluate("models:/churn/1", churn, target="churned", latency_sample=5)
    assert result.metrics["accuracy"] == expected.metrics["accuracy"]
    assert result.metrics["roc_auc"] == expected.metrics["roc_auc"]

    # profile: the same statistics as the pandas frame's
    profiled = lw.profile(FORMS[form](churn, tmp_path))
    assert profiled.to_dict() == lw.profile(churn).to_dict()

    # drift: the same rows on both sides do not drift, as reference or as current
    assert lw.drift(churn, FORMS[form](churn, tmp_path)).verdict == "no drift"
    report = lw.drift(FORMS[form](churn, tmp_path), churn.assign(tenure=churn["tenure"] + 30))
    assert "tenure" in report.drifted_features

    # register_model(reference_data=...): the version's reference profile is of these rows
    source = lw.get_model_version("churn", 1).source
    mv = lw.register_model(source, "churn", reference_data=FORMS[form](churn[["tenure"]], tmp_path))
    assert lw.drift(mv.uri, churn[["tenure"]]).reference.n_rows == len(churn)

    # log_dataset: the fingerprint is the pandas frame's
    with lw.start_run():
        logged = lw.log_dataset(FORMS[form](churn, tmp_path), name="train")
        reference = lw.log_dataset(churn, name="train")
    assert (logged.n_rows, logged.digest) == (len(churn), reference.digest)

    # LoadedModel.predict: the same predictions as on the pandas frame
    model = lw.load_model("models:/churn/1")
    features = FORMS[form](churn[["tenure"]], tmp_path)
    assert model.predict(features).tolist() == model.predict(churn[["tenure"]]).tolist()


def test_a_data_file_is_the_datasets_source(sqlite_env: Path, tmp_path: Path) -> None:
    path = _parquet(_train(10), tmp_path)
    with lw.start_run():
        assert lw.log_dataset(path, name="train").source == str(path)
        assert lw.log_dataset(path, name="train", source="s3://b/train").source == "s3://b/train"


def test_profile_takes_chunks_in_any_form(tmp_path: Path) -> None:
    train = _train(90)
    pieces = [train.iloc[:30], train.iloc[30:60], train.iloc[60:]]
    chunks = [pl.from_pandas(pieces[0]), pa.Table.from_pandas(pieces[1], preserve_index=False), pieces[2]]
    assert lw.profile(chunks).to_dict() == lw.profile(pieces).to_dict()
    assert lw.profile(iter(chunks)).n_rows == 90  # a generator streams


def test_unsupported_data_names_the_type_and_the_accepted_ones(churn: pd.DataFrame, tmp_path: Path) -> None:
    accepted = r"a pandas, polars or pyarrow table .*a \.parquet/\.csv path, a list of records"
    with pytest.raises(InvalidInput, match=rf"data must be {accepted}.*got int"):
        lw.evaluate("models:/churn/1", 42, target="churned")
    with pytest.raises(InvalidInput, match=rf"must be {accepted}.*got polars\.series\.series\.Series"):
        lw.profile(pl.Series("x", [1, 2]))
    with pytest.raises(InvalidInput, match=rf"current must be {accepted}.*got object"):
        lw.drift(churn, object())
    with pytest.raises(InvalidInput, match=rf"reference must be {accepted}.*got set"):
        lw.drift({1, 2}, churn)
    with pytest.raises(InvalidInput, match=rf"reference_data must be {accepted}.*got numpy\.ndarray"):
        lw.register_model(lw.get_model_version("churn", 1).source, "churn", reference_data=np.zeros((2, 2)))
    assert lw.get_registered_model("churn").latest_version == 1  # refused before registering
    with lw.start_run(), pytest.raises(InvalidInput, match=rf"the dataset must be {accepted}.*got float"):
        lw.log_dataset(1.5, name="train")
    with pytest.raises(InvalidInput, match="items are not all dicts"):
        lw.evaluate("models:/churn/1", [{"tenure": 1.0, "churned": 0}, 3], target="churned")
    with pytest.raises(
        InvalidInput, match=r"unsupported data file 'train\.xlsx': use \.parquet, \.pq or \.csv"
    ):
        lw.profile(tmp_path / "train.xlsx")
    with pytest.raises(InvalidInput, match="no such data file"):
        lw.drift(churn, str(tmp_path / "missing.csv"))
