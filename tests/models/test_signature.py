"""Signature inference and validation: every refusal names the column and the expectation."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from loopwright.errors import InvalidInput
from loopwright.models import ColumnSpec, Signature, TensorSpec, infer_signature


@pytest.fixture
def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "age": np.array([31, 47, 52], dtype="int64"),
            "income": [41.5, np.nan, 60.25],
            "plan": pd.Categorical(["basic", "pro", "basic"], categories=["basic", "pro", "max"]),
            "region": ["north", "south", "east"],
            "active": [True, False, True],
            "joined": pd.to_datetime(["2024-01-02", "2024-03-04", "2024-05-06"]),
        }
    )


@pytest.fixture
def sig(frame: pd.DataFrame) -> Signature:
    return infer_signature(frame)


def test_infer_from_dataframe(sig: Signature) -> None:
    assert sig.kind == "dataframe"
    assert [(c.name, c.dtype, c.allow_nan) for c in sig.inputs] == [
        ("age", "int64", False),
        ("income", "float64", True),
        ("plan", "category", False),
        ("region", "string", False),
        ("active", "bool", False),
        ("joined", "datetime", False),
    ]
    assert sig.inputs[2].categories == ["basic", "pro", "max"]


def test_infer_from_numpy_and_output() -> None:
    sig = infer_signature(np.zeros((4, 3), dtype="float32"), output=np.zeros((4, 2)))
    assert sig.inputs == TensorSpec("float32", (-1, 3))
    assert sig.outputs == TensorSpec("float64", (-1, 2))


def test_round_trip_through_dict(sig: Signature) -> None:
    assert Signature.from_dict(sig.to_dict()) == sig
    tensor = Signature(TensorSpec("float32", (-1, 28, 28)), outputs=[ColumnSpec("score", "float64")])
    assert Signature.from_dict(tensor.to_dict()) == tensor


def test_valid_records_are_coerced_in_signature_order(sig: Signature) -> None:
    rows = [
        {
            "joined": "2024-07-01",
            "region": "west",
            "active": False,
            "plan": "max",
            "income": 10,
            "age": 40,
        }
    ]
    out = sig.validate(rows)
    assert out.columns.tolist() == ["age", "income", "plan", "region", "active", "joined"]
    assert out["income"].dtype == np.float64  # int → float widening
    assert isinstance(out["plan"].dtype, pd.CategoricalDtype)
    assert out["joined"].dtype.kind == "M"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda f: f.drop(columns=["age"]), "missing column 'age' (int64)"),
        (
            lambda f: f.assign(extra=1),
            "unknown column 'extra': the signature expects ['age', 'income', 'plan', 'region', 'active', 'joined']",
        ),
        (
            lambda f: f.assign(age=["31", "47", "52"]),
            "column 'age': expected int64, got string values (e.g. '31')",
        ),
        (
            lambda f: f.assign(income=["a", "b", "c"]),
            "column 'income': expected float64, got string values (e.g. 'a')",
        ),
        (
            lambda f: f.assign(age=[1.5, 2.0, 3.0]),
            "column 'age': expected int64, got float values with fractions",
        ),
        (lambda f: f.assign(region=[1, 2, 3]), "column 'region': expected string, got int (int64)"),
        (lambda f: f.assign(active=[1.0, 0.0, 1.0]), "column 'active': expected bool, got float (float64)"),
        (lambda f: f.assign(age=[31, None, 52]), "column 'age': missing value (NaN/None) at row 1"),
        (
            lambda f: f.assign(region=["north", None, "east"]),
            "column 'region': missing value (NaN/None) at row 1",
        ),
    ],
)
def test_precise_errors(sig: Signature, frame: pd.DataFrame, change, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidInput, match=re.escape(message)):
        sig.validate(change(frame))


def test_nan_allowed_where_the_example_had_it(sig: Signature, frame: pd.DataFrame) -> None:
    out = sig.validate(frame.assign(income=[np.nan, np.nan, 1.0]))
    assert out["income"].isna().sum() == 2


def test_integral_floats_become_ints(sig: Signature, frame: pd.DataFrame) -> None:
    out = sig.validate(frame.assign(age=[31.0, 47.0, 52.0]))
    assert out["age"].dtype == np.int64


def test_unseen_category_allowed_by_default_refused_when_closed(sig: Signature, frame: pd.DataFrame) -> None:
    out = sig.validate(frame.assign(plan=["basic", "enterprise", "pro"]))
    assert out["plan"].tolist() == ["basic", "enterprise", "pro"]
    closed = Signature([ColumnSpec("plan", "category", categories=["basic", "pro"], allow_unseen=False)])
    with pytest.raises(
        InvalidInput,
        match=re.escape("column 'plan': unseen category 'enterprise'; expected one of ['basic', 'pro']"),
    ):
        closed.validate([{"plan": "enterprise"}])


def test_numpy_rows_map_onto_columns() -> None:
    sig = Signature([ColumnSpec("a", "float64"), ColumnSpec("b", "int64")])
    out = sig.validate(np.array([[1.5, 2], [3.0, 4]]))
    assert out.columns.tolist() == ["a", "b"] and out["b"].dtype == np.int64
    with pytest.raises(
        InvalidInput,
        match=re.escape("wrong shape: expected rows of 2 columns ['a', 'b'], got an array of shape (2, 3)"),
    ):
        sig.validate(np.zeros((2, 3)))


def test_tensor_validation() -> None:
    sig = Signature(TensorSpec("float32", (-1, 3)))
    out = sig.validate([[1, 2, 3]])
    assert out.dtype == np.float32 and out.shape == (1, 3)  # int → float widening
    with pytest.raises(InvalidInput, match=re.escape("wrong shape: expected (batch, 3), got (2, 4)")):
        sig.validate(np.zeros((2, 4)))
    with pytest.raises(InvalidInput, match=re.escape("wrong shape: expected (batch, 3), got (3,)")):
        sig.validate(np.zeros(3))
    with pytest.raises(InvalidInput, match=re.escape("wrong type: expected float32 numbers, got <U1 values")):
        sig.validate(np.array([["1", "2", "3"]]))
    with pytest.raises(
        InvalidInput, match=re.escape("NaN at index (0, 1), and the signature does not allow NaN or Inf")
    ):
        sig.validate(np.array([[1.0, np.nan, 2.0]]))
    ints = Signature(TensorSpec("int64", (-1, 2)))
    with pytest.raises(InvalidInput, match="expected int64, got float values with fractions"):
        ints.validate(np.array([[1.5, 2.0]]))


def test_bad_specs_are_refused() -> None:
    with pytest.raises(InvalidInput, match="unknown signature dtype 'float'"):
        ColumnSpec("x", "float")
    with pytest.raises(InvalidInput, match="duplicate column names"):
        Signature([ColumnSpec("x", "int64"), ColumnSpec("x", "int64")])


@pytest.mark.parametrize(
    ("value", "dtype", "shown"),
    [
        (1e300, "int64", "1e+300"),
        (2**63, "int64", "9223372036854775808"),
        (2**64, "int64", "18446744073709551616"),
        (-(2**63) - 1, "int64", "-9223372036854775809"),
        (float(-(2**63)), "int64", "-9.223372036854776e+18"),  # what JSON parsers make of -2**63-1
        (256, "uint8", "256"),
        (-1, "uint64", "-1"),
        (2**40, "int32", "1099511627776"),
    ],
)
def test_out_of_range_integers_are_refused_not_wrapped(value: int | float, dtype: str, shown: str) -> None:
    from loopwright.models.signature import integer_range

    low, high = integer_range(dtype)
    sig = Signature([ColumnSpec("n", dtype), ColumnSpec("plan", "string")])
    expected = f"column 'n': expected {dtype} in [{low}, {high}], got {shown}"
    with pytest.raises(InvalidInput, match=re.escape(expected)):
        sig.validate([{"n": value, "plan": "a"}])
    with pytest.raises(InvalidInput, match=re.escape(expected)):
        sig.validate(pd.DataFrame({"n": [0, value], "plan": ["a", "b"]}))
    tensor = Signature(TensorSpec(dtype, (-1,)))
    with pytest.raises(InvalidInput, match=re.escape(f"expected {dtype} in [{low}, {high}], got {shown}")):
        tensor.validate(np.array([value]) if type(value) is float or abs(value) < 2**63 else [value])


def test_extreme_integers_in_range_pass_exactly() -> None:
    sig = Signature([ColumnSpec("n", "int64"), ColumnSpec("plan", "string")])
    out = sig.validate([{"n": 2**63 - 1, "plan": "a"}, {"n": -(2**63), "plan": "b"}])
    assert out["n"].tolist() == [2**63 - 1, -(2**63)] and out["n"].dtype == np.int64
    assert Signature([ColumnSpec("n", "uint64")]).validate([{"n": 2**64 - 1}])["n"].tolist() == [2**64 - 1]


def test_non_finite_floats_refused_unless_nan_is_allowed() -> None:
    closed = Signature([ColumnSpec("x", "float64")])
    with pytest.raises(
        InvalidInput, match=re.escape("column 'x': inf at row 1, and the signature allows only finite")
    ):
        closed.validate(pd.DataFrame({"x": [1.0, np.inf]}))
    opened = Signature([ColumnSpec("x", "float64", allow_nan=True)])
    assert np.isinf(opened.validate(pd.DataFrame({"x": [-np.inf]}))["x"]).all()
    narrow = Signature([ColumnSpec("x", "float32")])
    with pytest.raises(
        InvalidInput, match=re.escape("column 'x': expected float32 within ±3.40282e+38, got 1e+300")
    ):
        narrow.validate(pd.DataFrame({"x": [1e300]}))
    with pytest.raises(
        InvalidInput, match=re.escape("inf at index (1,), and the signature does not allow NaN or Inf")
    ):
        Signature(TensorSpec("float64", (-1,))).validate(np.array([0.0, np.inf]))


def test_loaded_model_predict_refuses_out_of_range_integers(sqlite_env: Path) -> None:
    """Through ``LoadedModel.predict``: InvalidInput naming the column, not numpy's OverflowError."""
    from sklearn.linear_model import LinearRegression

    import loopwright as lw

    X = pd.DataFrame({"n": np.arange(10, dtype="int64"), "x": np.random.default_rng(0).normal(size=10)})
    with lw.start_run():
        info = lw.log_model(LinearRegression().fit(X, X.n * 2.0), "model", input_example=X.head(3))
    model = lw.load_model(info.uri)
    for value in (2**64, 2**63, -(2**63) - 1, 1e300):
        with pytest.raises(
            InvalidInput, match=re.escape("column 'n': expected int64 in [-9223372036854775808")
        ):
            model.predict(pd.DataFrame({"n": [value], "x": [0.5]}))
    assert model.predict(pd.DataFrame({"n": [3], "x": [0.5]})).tolist() == pytest.approx([6.0])
