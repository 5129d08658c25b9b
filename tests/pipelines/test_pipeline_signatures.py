"""Models built by pipeline steps carry the signature of the frame they were fitted on; registering or
gating an unsigned version warns; a candidate whose signature breaks the champion's clients fails the
gate (issue 11 item 1)."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
import wine_flows as flows
from sklearn.datasets import load_wine

import loopwright as lw
from cli_process import run_cli
from loopwright.errors import UnsignedModelWarning
from loopwright.models.signature import TensorSpec
from loopwright.registry.signatures import has_signature
from loopwright.serving import run_in_thread

ACCURACY = {"metric_thresholds": {"accuracy": {"min": 0.5}}}


def _holdout() -> pd.DataFrame:
    return load_wine(as_frame=True).frame.rename(columns={"target": "cultivar"})


def _ours(caught: list[warnings.WarningMessage]) -> list[str]:
    return [str(w.message) for w in caught if issubclass(w.category, UnsignedModelWarning)]


def test_a_pipeline_model_is_served_with_its_training_frames_signature(sqlite_env: Path) -> None:
    result = flows.wine.run()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        mv = lw.register_model(result.model_uri("train"), "wine-pipe")
    assert _ours(caught) == [] and has_signature(mv.uri)

    model = lw.load_model("models:/wine-pipe/1")
    assert model.signature is not None and model.signature.kind == "dataframe"
    assert model.signature.columns == flows.FEATURES  # the target column is not an input
    assert isinstance(model.signature.inputs, list)
    assert all(c.dtype == "float64" for c in model.signature.inputs)
    example = model.input_example
    assert isinstance(example, pd.DataFrame) and list(example.columns) == flows.FEATURES
    assert 1 <= len(example) <= 5
    assert model.predict(example).shape == (len(example),)

    handle = run_in_thread("models:/wine-pipe/1")
    try:
        row = _holdout()[flows.FEATURES].iloc[0].to_dict()
        with httpx.Client(base_url=handle.url, timeout=30) as http:
            good = http.post("/endpoints/wine-pipe/predict", json={"instances": [row]})
            assert good.status_code == 200, good.text
            bad = http.post("/endpoints/wine-pipe/predict", json={"instances": [{**row, "alcohol": "high"}]})
            assert bad.status_code == 422, bad.text
            assert "alcohol" in bad.text and "Traceback" not in bad.text
            meta = http.get("/v2/models/wine-pipe").json()
        assert [i["name"] for i in meta["inputs"]] == flows.FEATURES
    finally:
        handle.stop()


def test_a_model_fitted_on_an_array_gets_a_tensor_signature(sqlite_env: Path) -> None:
    result = flows.wine_arrays.run()
    model = lw.load_model(result.model_uri("train_on_array"))
    assert model.signature is not None and isinstance(model.signature.inputs, TensorSpec)
    assert (model.signature.inputs.dtype, model.signature.inputs.shape) == ("float32", (-1, 13))
    assert isinstance(model.input_example, np.ndarray) and model.input_example.shape == (5, 13)


def test_registering_and_gating_an_unsigned_version_warn(
    sqlite_env: Path, caplog: pytest.LogCaptureFixture
) -> None:
    result = flows.wine_derived.run()
    uri = result.model_uri("train_on_derived")
    assert lw.load_model(uri).signature is None  # fitted on a frame no input matches

    with caplog.at_level(logging.WARNING), pytest.warns(UnsignedModelWarning) as caught:
        mv = lw.register_model(uri, "wine-derived")
    [message] = [str(w.message) for w in caught]
    assert message.startswith("registering models:/wine-derived/1: the model has no signature")
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING] == [message]
    assert not has_signature(mv.uri)

    with pytest.warns(
        UnsignedModelWarning, match="gating models:/wine-derived/1: the model has no signature"
    ):
        verdict = lw.gate(mv.uri, ACCURACY, _holdout(), "cultivar", latency_sample=5)
    assert any("has no signature" in note for note in verdict.notes)

    # the CLI shows the warning as one line, not Python's two-line warning display
    shell = run_cli("models", "register", uri, "wine-derived", env={"LOOPWRIGHT_HOME": str(sqlite_env)})
    assert shell.returncode == 0, shell.stderr
    lines = shell.stderr.strip().splitlines()
    assert len(lines) == 1 and "registering models:/wine-derived/2: the model has no signature" in lines[0]
    assert "models:/wine-derived/2" in shell.stdout


def test_a_candidate_whose_signature_breaks_the_champions_clients_fails_the_gate(sqlite_env: Path) -> None:
    champion = lw.register_model(flows.wine.run().model_uri("train"), "wine")
    lw.set_alias("wine", "champion", champion.version)
    same = lw.register_model(flows.wine.run(C=0.5).model_uri("train"), "wine")
    narrower = lw.register_model(flows.wine.run(drop="alcohol").model_uri("train"), "wine")
    holdout = _holdout()

    ok = lw.gate(same.uri, ACCURACY, holdout, "cultivar", latency_sample=5)
    assert ok.passed and [c.kind for c in ok.checks] == ["threshold"]

    verdict = lw.gate(narrower.uri, ACCURACY, holdout, "cultivar", promote="champion", latency_sample=5)
    assert not verdict.passed and verdict.promoted is None
    [failure] = verdict.failures
    assert (failure.metric, failure.kind) == ("signature", "signature")
    assert failure.reason == "the candidate lacks column alcohol that the champion takes (models:/wine/1)"
    assert lw.get_model_version_by_alias("wine", "champion").version == champion.version
