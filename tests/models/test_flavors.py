"""Every flavor round-trips: log here, load in a fresh process, identical predictions.

All packages are logged once per module and loaded by ONE subprocess (torch and Keras imports are
slow), which prints each model's predictions as JSON; each flavor then has its own test.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

os.environ.setdefault("KERAS_BACKEND", "torch")  # TensorFlow is not installed; Keras 3 runs on torch

import keras
import lightgbm
import numpy as np
import pandas as pd
import pytest
import torch
import xgboost
from example_models import ThresholdModel, TinyNet
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_iris, make_classification
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

import loopwright as lw

HERE = Path(__file__).resolve().parent
SRC = HERE.parents[1] / "src"

LOADER = """
import json, os, sys
import numpy as np, pandas as pd
import loopwright as lw
from loopwright.models.manifest import decode_example
cases = json.loads(sys.stdin.read())
out = {}
for name, case in cases.items():
    model = lw.load_model(case["uri"], prefer_onnx=case.get("prefer_onnx", False))
    data = decode_example(case["data"])
    result = {"flavor": model.flavor, "uses_onnx": model.uses_onnx,
              "predict": np.asarray(model.predict(data)).tolist()}
    if model.has_proba:
        result["proba"] = np.asarray(model.predict_proba(data)).tolist()
    out[name] = result
print(json.dumps(out))
"""


def churn_frame(n: int = 300, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "age": rng.integers(18, 80, n),
            "income": rng.normal(50.0, 12.0, n),
            "plan": pd.Categorical(
                rng.choice(["basic", "pro", "max"], n), categories=["basic", "pro", "max"]
            ),
            "region": rng.choice(["north", "south", "east"], n),
        }
    )
    y = ((frame["age"] > 45) ^ (frame["plan"] == "max")).astype(int).to_numpy()
    return frame, y


def churn_pipeline() -> tuple[Pipeline, pd.DataFrame]:
    frame, y = churn_frame()
    pipe = Pipeline(
        [
            (
                "prep",
                ColumnTransformer(
                    [
                        ("num", StandardScaler(), ["age", "income"]),
                        ("cat", OneHotEncoder(handle_unknown="ignore"), ["plan", "region"]),
                    ]
                ),
            ),
            ("clf", LogisticRegression(max_iter=500)),
        ]
    ).fit(frame, y)
    return pipe, frame


def _models() -> dict[str, dict[str, Any]]:
    """name → model, example, data to predict on, and log options."""
    X, y = make_classification(400, 6, n_informative=4, random_state=0)
    X32 = X.astype(np.float32)
    iris = load_iris()
    pipe, frame = churn_pipeline()
    onnx_proto = __import__("skl2onnx").to_onnx(
        LogisticRegression(max_iter=500).fit(X32, y), X32[:1], options={"zipmap": False}
    )
    torch.manual_seed(0)
    net = TinyNet(n_in=6, hidden=16)
    keras.utils.set_random_seed(0)
    kmodel = keras.Sequential(
        [keras.Input((6,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(3)]
    )
    return {
        "sklearn_pipeline": {"model": pipe, "example": frame[:5], "data": frame[:40]},
        "sklearn_forest": {
            "model": RandomForestClassifier(30, random_state=0).fit(iris.data, iris.target),
            "example": iris.data[:5],
            "data": iris.data,
        },
        "sklearn_onnx": {
            "model": pipe,
            "example": frame[:5],
            "data": frame[:40],
            "log": {"onnx": True},
            "prefer_onnx": True,
        },
        "xgboost": {
            "model": xgboost.XGBClassifier(n_estimators=20, max_depth=3).fit(X, y),
            "example": X[:5],
            "data": X[:50],
        },
        "xgboost_booster": {
            "model": xgboost.train({"max_depth": 3}, xgboost.DMatrix(X, label=X[:, 0]), num_boost_round=10),
            "example": X[:5],
            "data": X[:50],
        },
        "lightgbm": {
            "model": lightgbm.LGBMClassifier(n_estimators=20, verbose=-1).fit(X, y),
            "example": X[:5],
            "data": X[:50],
        },
        "onnx": {"model": onnx_proto, "example": X32[:5], "data": X32[:50]},
        "torch": {"model": net, "example": X32[:5], "data": X32[:50]},
        "keras": {"model": kmodel, "example": X32[:5], "data": X32[:50]},
        "pyfunc": {"model": None, "example": X[:5], "data": X[:50]},  # built in the fixture (needs a file)
    }


@pytest.fixture(scope="module")
def round_trip(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Log every flavor here; load them all in one fresh process; return both sides' results."""
    home = tmp_path_factory.mktemp("flavors")
    weights = home / "weights.json"
    weights.write_text(json.dumps([0.5, -1.0, 0.25, 0.0, 1.0, -0.5]))
    cases = _models()
    cases["pyfunc"]["model"] = ThresholdModel(str(weights), threshold=0.1)
    here: dict[str, Any] = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LOOPWRIGHT_HOME", str(home / "lw"))
        mp.delenv("LOOPWRIGHT_STORE_URI", raising=False)
        mp.delenv("LOOPWRIGHT_ARTIFACT_URI", raising=False)
        lw.reset_clients()
        requests = {}
        with lw.start_run(name="flavors"):
            for name, case in cases.items():
                info = lw.log_model(case["model"], name, input_example=case["example"], **case.get("log", {}))
                loaded = lw.load_model(info.uri, prefer_onnx=case.get("prefer_onnx", False))
                here[name] = {"info": info, "model": case["model"], "loaded": loaded, "data": case["data"]}
                requests[name] = {
                    "uri": info.uri,
                    "prefer_onnx": case.get("prefer_onnx", False),
                    "data": lw.models.manifest.encode_example(case["data"]),
                }
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(SRC), str(HERE)]),
        }
        env.pop("KERAS_BACKEND", None)  # the package records its backend; a fresh process uses it
        proc = subprocess.run(
            [sys.executable, "-c", LOADER],
            input=json.dumps(requests),
            capture_output=True,
            text=True,
            env=env,
            timeout=240,
        )
        lw.reset_clients()
    assert proc.returncode == 0, proc.stderr[-3000:]
    yield {"here": here, "there": json.loads(proc.stdout.strip().splitlines()[-1])}


def _native_predict(name: str, model: Any, data: Any) -> np.ndarray:
    if name == "torch":
        with torch.no_grad():
            return model(torch.from_numpy(data)).numpy()
    if name == "keras":
        return np.asarray(model.predict_on_batch(data))
    if name == "onnx":
        import onnxruntime

        session = onnxruntime.InferenceSession(model.SerializeToString())
        return session.run(None, {session.get_inputs()[0].name: data})[0]
    if name == "xgboost_booster":
        return model.inplace_predict(data)
    return np.asarray(model.predict(data))


@pytest.mark.parametrize(
    "name",
    [
        "sklearn_pipeline",
        "sklearn_forest",
        "xgboost",
        "xgboost_booster",
        "lightgbm",
        "onnx",
        "torch",
        "keras",
        "pyfunc",
    ],
)
def test_round_trip_in_fresh_process(round_trip: dict[str, Any], name: str) -> None:
    here = round_trip["here"][name]
    there = round_trip["there"][name]
    expected = _native_predict(name, here["model"], here["data"]) if name != "pyfunc" else None
    local = np.asarray(here["loaded"].predict(here["data"]))
    if expected is not None:
        np.testing.assert_array_equal(local, expected)
    np.testing.assert_array_equal(np.asarray(there["predict"], dtype=local.dtype), local)
    assert there["flavor"] == here["info"].flavor
    if "proba" in there:
        np.testing.assert_array_equal(np.asarray(there["proba"]), here["loaded"].predict_proba(here["data"]))


def test_flavors_are_detected(round_trip: dict[str, Any]) -> None:
    flavors = {name: case["info"].flavor for name, case in round_trip["here"].items()}
    assert flavors == {
        "sklearn_pipeline": "sklearn",
        "sklearn_forest": "sklearn",
        "sklearn_onnx": "sklearn",
        "xgboost": "xgboost",
        "xgboost_booster": "xgboost",
        "lightgbm": "lightgbm",
        "onnx": "onnx",
        "torch": "torch",
        "keras": "keras",
        "pyfunc": "pyfunc",
    }


def test_onnx_companion_in_fresh_process(round_trip: dict[str, Any]) -> None:
    here = round_trip["here"]["sklearn_onnx"]
    there = round_trip["there"]["sklearn_onnx"]
    assert there["uses_onnx"] and here["info"].has_onnx
    pipe, data = here["model"], here["data"]
    np.testing.assert_array_equal(there["predict"], pipe.predict(data))
    assert np.max(np.abs(np.asarray(there["proba"]) - pipe.predict_proba(data))) < 1e-4


def test_classifier_probabilities_match_the_library(round_trip: dict[str, Any]) -> None:
    for name in ("sklearn_pipeline", "sklearn_forest", "xgboost", "lightgbm"):
        case = round_trip["here"][name]
        assert case["loaded"].has_proba, name
        np.testing.assert_allclose(
            case["loaded"].predict_proba(case["data"]),
            case["model"].predict_proba(case["data"]),
            rtol=0,
            atol=1e-12,
        )
    assert not round_trip["here"]["torch"]["loaded"].has_proba


def test_pipeline_with_categorical_columns(round_trip: dict[str, Any]) -> None:
    loaded = round_trip["here"]["sklearn_pipeline"]["loaded"]
    sig = loaded.signature
    assert sig.kind == "dataframe"
    specs = {c.name: c for c in sig.inputs}
    assert specs["plan"].dtype == "category" and specs["plan"].categories == ["basic", "pro", "max"]
    assert specs["region"].dtype == "string"
    # records in any column order, a level never seen in training: accepted (the encoder ignores it)
    rows = [{"region": "west", "plan": "pro", "income": 51.5, "age": 33}]
    assert loaded.predict(rows).shape == (1,)
    assert loaded.manifest["input_example"]["type"] == "dataframe"
    pd.testing.assert_frame_equal(loaded.input_example, round_trip["here"]["sklearn_pipeline"]["data"][:5])


def test_keras_loads_in_safe_mode(round_trip: dict[str, Any]) -> None:
    manifest = round_trip["here"]["keras"]["loaded"].manifest
    assert manifest["flavor_options"]["backend"] == "torch"
    assert [f["path"] for f in manifest["files"]] == ["model.keras"]


def test_torch_package_is_weights_plus_class_reference(round_trip: dict[str, Any]) -> None:
    manifest = round_trip["here"]["torch"]["loaded"].manifest
    assert manifest["flavor_options"]["class"] == "example_models:TinyNet"
    assert manifest["flavor_options"]["init_kwargs"] == {"n_in": 6, "hidden": 16}
    assert [f["path"] for f in manifest["files"]] == ["weights.safetensors"]


def test_pyfunc_package_is_class_path_plus_files(round_trip: dict[str, Any]) -> None:
    manifest = round_trip["here"]["pyfunc"]["loaded"].manifest
    assert manifest["flavor_options"]["class"] == "example_models:ThresholdModel"
    assert [f["path"] for f in manifest["files"]] == ["artifacts/weights/weights.json"]
    assert not any(f["path"].endswith((".pkl", ".pickle")) for f in manifest["files"])


def test_boosters_use_native_formats(round_trip: dict[str, Any]) -> None:
    here = round_trip["here"]
    assert [f["path"] for f in here["xgboost"]["loaded"].manifest["files"]] == ["model.json"]
    assert [f["path"] for f in here["lightgbm"]["loaded"].manifest["files"]] == ["model.txt"]
    assert here["lightgbm"]["loaded"].manifest["flavor_options"]["classes"] == [0, 1]
