"""Outputs become bytes by type, the same value always gives the same bytes, unknown types are refused."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pytest
from sklearn.linear_model import LogisticRegression

import loopwright as lw
from loopwright.pipelines.materializers import (
    get_materializer,
    materializer_for,
    unregister_materializer,
)
from loopwright.pipelines.values import is_model


def roundtrip(value: object) -> tuple[str, object, str]:
    materializer = materializer_for(value)
    data = materializer.dumps(value)
    assert materializer.dumps(value) == data, "materialising twice must give the same bytes"
    return (
        materializer.name,
        get_materializer(materializer.name).loads(data),
        hashlib.sha256(data).hexdigest(),
    )


def test_builtin_materialisers_roundtrip() -> None:
    frame = pd.DataFrame({"x": [1, 2, 3], "y": ["a", "b", "c"]})
    name, back, _ = roundtrip(frame)
    assert name == "pandas" and back.equals(frame)
    name, back, _ = roundtrip(frame["x"])
    assert name == "pandas.series" and back.tolist() == [1, 2, 3] and back.name == "x"
    name, back, _ = roundtrip(pl.DataFrame({"x": [1.5, 2.5]}))
    assert name == "polars" and back["x"].to_list() == [1.5, 2.5]
    name, back, _ = roundtrip(np.arange(6).reshape(2, 3))
    assert name == "numpy" and back.tolist() == [[0, 1, 2], [3, 4, 5]]
    name, back, _ = roundtrip(np.float32(0.25))
    assert name == "numpy.scalar" and back == np.float32(0.25) and type(back) is np.float32
    name, back, _ = roundtrip({"auc": 0.9, "tags": ["a"], "n": None})
    assert name == "json" and back == {"auc": 0.9, "tags": ["a"], "n": None}


def test_models_are_not_bytes_but_model_packages() -> None:
    model = LogisticRegression().fit(np.array([[0.0], [1.0], [2.0], [3.0]]), [0, 0, 1, 1])
    with pytest.raises(lw.InvalidInput):
        materializer_for(model)
    assert is_model(model) and not is_model(pd.DataFrame({"x": [1]})) and not is_model({"a": 1})


def test_unknown_type_names_the_type_and_the_fix() -> None:
    class Weird:
        pass

    with pytest.raises(lw.InvalidInput) as info:
        materializer_for(Weird())
    message = str(info.value)
    assert "Weird" in message and "lw.register_materializer(Weird" in message
    with pytest.raises(lw.InvalidInput, match=r"cannot materialise a dict as JSON: the value\['nan'\] is"):
        materializer_for({"nan": float("nan")})
    with pytest.raises(lw.InvalidInput, match=r"the value\['n'\]\[1\] is a numpy.int64 .*int\(x\)"):
        materializer_for({"n": [1, np.int64(3)]})


def test_registered_materialiser_wins_and_can_be_removed(tmp_path: Path) -> None:
    class Vocab:
        def __init__(self, words: list[str]):
            self.words = words

    registered = lw.register_materializer(
        Vocab,
        save=lambda v, path: path.write_text("\n".join(v.words)),
        load=lambda path: Vocab(path.read_text().split("\n")),
        ext="txt",
    )
    try:
        name, back, _ = roundtrip(Vocab(["a", "b"]))
        assert name.endswith("Vocab") and back.words == ["a", "b"]
        assert registered.ext == "txt"
    finally:
        unregister_materializer(registered)
    with pytest.raises(lw.InvalidInput):
        materializer_for(Vocab(["a"]))
    with pytest.raises(lw.InvalidInput, match="needs a type"):
        lw.register_materializer("Vocab", save=print, load=print)  # type: ignore[arg-type]
