"""Package writing and safe loading: integrity, pickle policy, ONNX conversion, the fast paths."""

from __future__ import annotations

import json
import pickle
import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from example_models import Opaque, ScaleModel, signed_log
from sklearn.datasets import make_classification
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler
from sklearn.semi_supervised import LabelSpreading

import loopwright as lw
from loopwright.errors import (
    AlreadyExists,
    Conflict,
    IntegrityError,
    InvalidInput,
    NotFound,
    PermissionDenied,
)
from loopwright.models import convert_to_onnx, load_model_from_manifest, read_manifest

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    return make_classification(300, 5, n_informative=3, random_state=1)


@pytest.fixture(scope="module")
def forest(data: tuple[np.ndarray, np.ndarray]) -> RandomForestClassifier:
    X, y = data
    return RandomForestClassifier(25, random_state=0).fit(X, y)


def _blob_path(digest: str) -> Path:
    path = lw.get_client().blobs.local_path(digest)
    assert path is not None
    return path


def test_log_and_load_on_both_backends(lw_env: Path, data, forest) -> None:  # type: ignore[no-untyped-def]
    X, _ = data
    with lw.start_run() as run:
        info = lw.log_model(forest, "model", input_example=X[:5], metadata={"owner": "risk"})
    assert info.uri == f"runs:/{run.id}/model" and info.run_id == run.id and info.artifact_path == "model"
    assert info.flavor == "sklearn" and not info.has_onnx
    paths = {a.path for a in lw.list_artifacts(run.id, "model")}
    assert paths == {"model/manifest.json", "model/model.skops"}
    model = lw.load_model(info.uri)
    assert model.name is None and model.version is None and not model.uses_onnx
    assert model.metadata == {"owner": "risk"}
    assert model.manifest_digest == info.manifest_digest
    np.testing.assert_array_equal(model.predict(X), forest.predict(X))


def test_manifest_contents(sqlite_env: Path, data, forest) -> None:  # type: ignore[no-untyped-def]
    X, _ = data
    with lw.start_run():
        info = lw.log_model(forest, "clf", input_example=X[:3], requirements=["scikit-learn>=1.4"])
    manifest = read_manifest(info.manifest_digest)
    assert manifest["format"] == "loopwright.model/1"
    assert manifest["flavor"] == "sklearn" and manifest["allow_pickle"] is False and manifest["onnx"] is None
    assert manifest["loopwright_version"] == lw.__version__
    assert manifest["python_version"] == ".".join(map(str, sys.version_info[:3]))
    assert {"scikit-learn", "skops", "numpy"} <= set(manifest["library_versions"])
    assert manifest["requirements"] == ["scikit-learn>=1.4"]
    assert manifest["signature"]["inputs"] == {
        "tensor": {"dtype": "float64", "shape": [-1, 5], "allow_nan": False}
    }
    assert manifest["flavor_options"]["trusted_types"] == ["sklearn.tree._tree.Tree"]
    (entry,) = manifest["files"]
    blob = _blob_path(entry["sha256"]).read_bytes()
    assert entry["path"] == "model.skops" and entry["size"] == len(blob)


def test_log_model_refusals(sqlite_env: Path, data, forest) -> None:  # type: ignore[no-untyped-def]
    X, _ = data
    with pytest.raises(Conflict, match="no active run"):
        lw.log_model(forest)
    with lw.start_run() as run:
        lw.log_model(forest, "model")
        with pytest.raises(AlreadyExists, match="already has a model at 'model'"):
            lw.log_model(forest, "model")
        with pytest.raises(InvalidInput, match=re.escape("'..' segments are not allowed")):
            lw.log_model(forest, "../escape")
        with pytest.raises(InvalidInput, match="model cannot predict on its input_example:"):
            lw.log_model(forest, "bad-example", input_example=X[:2, :3])
    with pytest.raises(Conflict, match="is finished"):
        lw.log_model(forest, "late", run_id=run.id)
    with pytest.raises(NotFound, match=re.escape("has no nothing/manifest.json")):
        lw.load_model(f"runs:/{run.id}/nothing")


def test_explicit_signature_is_enforced(sqlite_env: Path) -> None:
    frame = pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0], "b": [0.0, 1.0, 0.0, 1.0]})
    model = LinearRegression().fit(frame, [1.0, 2.0, 3.0, 4.0])
    sig = lw.Signature([lw.ColumnSpec("a", "float64"), lw.ColumnSpec("b", "float64", allow_nan=True)])
    with lw.start_run():
        info = lw.log_model(model, input_example=frame[:2], signature=sig)
    loaded = lw.load_model(info.uri)
    assert loaded.signature == sig
    with pytest.raises(InvalidInput, match="missing column 'b' \\(float64\\)"):
        loaded.predict([{"a": 1.0}])
    np.testing.assert_allclose(loaded.predict([{"b": 1, "a": 2}]), model.predict(frame[1:2]))


# -- integrity -----------------------------------------------------------------------------------
def test_flipped_byte_in_a_model_file_is_refused(sqlite_env: Path, data, forest) -> None:  # type: ignore[no-untyped-def]
    X, _ = data
    with lw.start_run():
        info = lw.log_model(forest, "model", input_example=X[:2])
    entry = read_manifest(info.manifest_digest)["files"][0]
    path = _blob_path(entry["sha256"])
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0x01
    path.chmod(0o644)
    path.write_bytes(bytes(raw))
    with pytest.raises(IntegrityError, match=re.escape("model file model/model.skops of runs:/")) as err:
        lw.load_model(info.uri)
    assert "tampered with or corrupted" in str(err.value)


def test_edited_manifest_is_refused(sqlite_env: Path, data, forest) -> None:  # type: ignore[no-untyped-def]
    X, _ = data
    with lw.start_run():
        info = lw.log_model(forest, "model", input_example=X[:2])
    path = _blob_path(info.manifest_digest)
    manifest = json.loads(path.read_text())
    manifest["allow_pickle"] = True
    manifest["flavor_options"]["trusted_types"] = ["os.system"]
    path.chmod(0o644)
    path.write_text(json.dumps(manifest))
    with pytest.raises(IntegrityError, match=re.escape("manifest.json of runs:/")) as err:
        lw.load_model(info.uri)
    assert "no longer hashes to the digest the store recorded" in str(err.value)


def test_tampered_file_is_refused_before_it_is_deserialised(sqlite_env: Path, tmp_path: Path) -> None:
    """A pickle that would run code is swapped in: loading refuses without ever unpickling it."""
    with lw.start_run():
        info = lw.log_model(Opaque(), "model", allow_pickle=True)
    entry = read_manifest(info.manifest_digest)["files"][0]
    marker = tmp_path / "pwned"
    evil = pickle.dumps(_Evil(str(marker)))
    path = _blob_path(entry["sha256"])
    path.chmod(0o644)
    path.write_bytes(evil)
    with pytest.raises(IntegrityError, match=re.escape("model file model/model.pkl")):
        lw.load_model(info.uri, allow_pickle=True)
    assert not marker.exists()


class _Evil:
    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (Path.touch, (Path(self.marker),))


# -- pickle policy ---------------------------------------------------------------------------------
def test_pickle_needs_opt_in_at_log_time(sqlite_env: Path) -> None:
    with lw.start_run(), pytest.raises(InvalidInput, match="log it with allow_pickle=True"):
        lw.log_model(Opaque())
    with lw.start_run(), pytest.raises(InvalidInput, match="flavor='pickle' needs allow_pickle=True"):
        lw.log_model(Opaque(), flavor="pickle")


def test_custom_transformer_falls_back_to_pickle_only_when_allowed(sqlite_env: Path, data) -> None:  # type: ignore[no-untyped-def]
    X, y = data
    pipe = make_pipeline(FunctionTransformer(signed_log), LogisticRegression()).fit(X, y)
    with lw.start_run():
        with pytest.raises(
            InvalidInput,
            match=re.escape(
                "holds types skops would have to trust at load time: ['example_models.signed_log']"
            ),
        ):
            lw.log_model(pipe, "safe-only")
        info = lw.log_model(pipe, "with-pickle", input_example=X[:3], allow_pickle=True)
    assert info.flavor == "pickle"
    np.testing.assert_array_equal(lw.load_model(info.uri, allow_pickle=True).predict(X), pipe.predict(X))


def test_pickle_package_loads_only_with_permission(sqlite_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    X = np.arange(6, dtype=float).reshape(3, 2)
    with lw.start_run():
        info = lw.log_model(Opaque(offset=2.0), "model", input_example=X, allow_pickle=True)
    assert info.flavor == "pickle"
    assert read_manifest(info.manifest_digest)["allow_pickle"] is True
    monkeypatch.delenv("LOOPWRIGHT_ALLOW_PICKLE", raising=False)
    with pytest.raises(PermissionDenied) as err:
        lw.load_model(info.uri)
    assert str(err.value) == (
        f"{info.uri} is a pickle-based model (logged with allow_pickle=True); unpickling can run arbitrary code, "
        "so it loads only with lw.load_model(uri, allow_pickle=True) or LOOPWRIGHT_ALLOW_PICKLE=1"
    )
    np.testing.assert_array_equal(lw.load_model(info.uri, allow_pickle=True).predict(X), [3.0, 7.0, 11.0])
    monkeypatch.setenv("LOOPWRIGHT_ALLOW_PICKLE", "1")
    np.testing.assert_array_equal(lw.load_model(info.uri).predict(X), [3.0, 7.0, 11.0])
    with pytest.raises(PermissionDenied):
        lw.load_model(info.uri, allow_pickle=False)


# -- ONNX ------------------------------------------------------------------------------------------
def test_onnx_parity_is_recorded_and_served(sqlite_env: Path, data, forest) -> None:  # type: ignore[no-untyped-def]
    X, _ = data
    with lw.start_run() as run:
        info = lw.log_model(forest, "model", input_example=X[:20], onnx=True)
    assert info.has_onnx
    assert {a.path for a in lw.list_artifacts(run.id, "model")} == {
        "model/manifest.json",
        "model/model.skops",
        "model/onnx/model.onnx",
    }
    section = read_manifest(info.manifest_digest)["onnx"]
    assert section["path"] == "onnx/model.onnx" and 0 <= section["max_abs_diff"] < 1e-4
    fast = lw.load_model(info.uri, prefer_onnx=True)
    assert fast.uses_onnx and fast.has_proba
    np.testing.assert_array_equal(fast.predict(X), forest.predict(X))
    assert np.max(np.abs(fast.predict_proba(X) - forest.predict_proba(X))) < 1e-5
    # the serving hot path: an already validated float32 array straight into onnxruntime
    np.testing.assert_array_equal(
        fast.predict(X[:1].astype(np.float32), validate=False), forest.predict(X[:1])
    )
    assert not lw.load_model(info.uri).uses_onnx


def test_onnx_refused_for_unsupported_model(sqlite_env: Path, data) -> None:  # type: ignore[no-untyped-def]
    X, y = data
    with lw.start_run() as run:
        with pytest.raises(
            InvalidInput, match="cannot convert LabelSpreading to ONNX: skl2onnx does not support it"
        ):
            lw.log_model(LabelSpreading().fit(X, y), "model", input_example=X[:5], onnx=True)
        with pytest.raises(InvalidInput, match="ONNX conversion needs an input_example"):
            lw.log_model(LogisticRegression().fit(X, y), "model", onnx=True)
    assert lw.list_artifacts(run.id) == []  # nothing half-written


def test_onnx_refused_when_parity_fails(sqlite_env: Path) -> None:
    # float32 cannot tell these inputs apart, float64 can: the ONNX graph cannot match scikit-learn
    X = (1e4 + np.array([0.0, 2e-4, 4e-4, 6e-4, 8e-4, 1e-3])).reshape(-1, 1)
    y = np.array([0, 0, 0, 1, 1, 1])
    model = make_pipeline(StandardScaler(), LogisticRegression(C=1e6)).fit(X, y)
    with lw.start_run(), pytest.raises(InvalidInput, match="ONNX conversion of Pipeline refused: predict"):
        lw.log_model(model, "model", input_example=X, onnx=True)


def test_convert_to_onnx_adds_a_companion(sqlite_env: Path, data) -> None:  # type: ignore[no-untyped-def]
    X, y = data
    reg = RandomForestRegressor(10, random_state=0).fit(X, y * 3.0)
    with lw.start_run():
        info = lw.log_model(reg, "model", input_example=X[:10])
    converted = convert_to_onnx(info.uri)
    assert converted.has_onnx and converted.manifest_digest != info.manifest_digest
    manifest = read_manifest(converted.manifest_digest)
    assert manifest["derived_from"] == info.manifest_digest
    assert [f["path"] for f in manifest["files"]] == ["model.skops", "onnx/model.onnx"]
    # the run's package stays as logged; the new manifest's blobs are owned by the package record
    assert not lw.load_model(info.uri, prefer_onnx=True).uses_onnx
    lw.gc(grace_seconds=0)
    fast = load_model_from_manifest(converted.manifest_digest, prefer_onnx=True)
    assert fast.uses_onnx
    np.testing.assert_allclose(fast.predict(X), reg.predict(X), rtol=1e-4)
    assert fast.predict(X).shape == (len(X),)
    assert convert_to_onnx(info.uri).manifest_digest == converted.manifest_digest  # deterministic
    assert convert_to_onnx(f"runs:/{info.run_id}/model").has_onnx


def test_convert_to_onnx_refuses_other_flavors(sqlite_env: Path) -> None:
    with lw.start_run():
        info = lw.log_model(Opaque(), "model", allow_pickle=True)
    with pytest.raises(InvalidInput, match="is a pickle model; ONNX conversion supports scikit-learn models"):
        convert_to_onnx(info.uri)


# -- predict paths -----------------------------------------------------------------------------------
def test_predict_validate_false_on_numpy(sqlite_env: Path, data, forest) -> None:  # type: ignore[no-untyped-def]
    X, _ = data
    with lw.start_run():
        info = lw.log_model(forest, "model", input_example=X[:5])
    model = lw.load_model(info.uri)
    np.testing.assert_array_equal(model.predict(X, validate=False), forest.predict(X))
    np.testing.assert_array_equal(model.predict_proba(X, validate=False), forest.predict_proba(X))
    np.testing.assert_array_equal(model.predict(X[:1], validate=False), forest.predict(X[:1]))
    with pytest.raises(InvalidInput, match="wrong shape"):
        model.predict(X[:, :3])
    model.warm_up()


def test_skops_file_with_foreign_types_is_refused_even_with_valid_digests(sqlite_env: Path, data) -> None:  # type: ignore[no-untyped-def]
    """A package written around the logger (digests all consistent) still cannot smuggle in types."""
    import skops.io

    from loopwright.models.manifest import manifest_bytes
    from loopwright.store import ArtifactRef

    X, y = data
    with lw.start_run() as run:
        info = lw.log_model(LogisticRegression().fit(X, y), "model")
        manifest = read_manifest(info.manifest_digest)
        forged = sqlite_env / "forged.skops"
        skops.io.dump(make_pipeline(FunctionTransformer(signed_log), LogisticRegression()).fit(X, y), forged)
        client = lw.get_client()
        digest, size = client.blobs.put_file(forged)
        manifest["files"] = [{"path": "model.skops", "sha256": digest, "size": size}]
        manifest["flavor_options"]["trusted_types"] = ["example_models.signed_log"]
        manifest_digest, manifest_size = client.blobs.put_bytes(manifest_bytes(manifest))
        client.store.record_artifacts(
            "run",
            run.id,
            [
                ArtifactRef("forged/model.skops", digest, size),
                ArtifactRef("forged/manifest.json", manifest_digest, manifest_size),
            ],
        )
    with pytest.raises(
        PermissionDenied,
        match=re.escape(
            "model.skops asks to construct types Loopwright does not trust: ['example_models.signed_log']"
        ),
    ):
        lw.load_model(f"runs:/{run.id}/forged")


def test_out_of_bounds_tree_nodes_are_refused(data) -> None:  # type: ignore[no-untyped-def]
    """skops trusts sklearn's Tree; its node indices are checked before the model is used."""
    from loopwright.models.flavors.sklearn import check_trees

    X, y = data
    pipe = make_pipeline(StandardScaler(), RandomForestClassifier(3, max_depth=3, random_state=0)).fit(X, y)
    check_trees(pipe, "model.skops")  # a sound model passes
    pipe[-1].estimators_[2].tree_.children_right[0] = 10**6  # what a crafted file could hold
    with pytest.raises(
        IntegrityError, match=re.escape("model.skops holds a decision tree whose node indices point outside")
    ):
        check_trees(pipe, "model.skops")


def test_registered_uris_resolve_through_the_registry(sqlite_env: Path, data, forest) -> None:  # type: ignore[no-untyped-def]
    X, _ = data
    with lw.start_run():
        info = lw.log_model(forest, "model", input_example=X[:5])
    mv = lw.register_model(info.uri, "churn")
    lw.set_alias("churn", "champion", mv.version)
    for uri in (f"models:/churn/{mv.version}", "models:/churn@champion"):
        model = lw.load_model(uri)
        assert (model.name, model.version, model.uri) == ("churn", mv.version, uri)
        assert model.manifest_digest == info.manifest_digest
        np.testing.assert_array_equal(model.predict(X), forest.predict(X))
    with pytest.raises(NotFound):
        lw.load_model("models:/churn@nobody")


def test_onnx_with_column_names_that_are_not_identifiers(sqlite_env: Path) -> None:
    from sklearn.datasets import load_breast_cancer

    frame = load_breast_cancer(as_frame=True).frame
    features = [c for c in frame.columns if c != "target"][:6]  # 'mean radius', 'mean texture', …
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(
        frame[features], frame["target"]
    )
    with lw.start_run():
        info = lw.log_model(model, "model", input_example=frame[features][:5], onnx=True)
    fast = lw.load_model(info.uri, prefer_onnx=True)
    assert fast.manifest["onnx"]["columns"] == features
    np.testing.assert_array_equal(fast.predict(frame[features]), model.predict(frame[features]))


def test_pyfunc_without_files(sqlite_env: Path) -> None:
    with lw.start_run():
        info = lw.log_model(ScaleModel(3.0), "model", input_example=np.ones((2, 3)))
    assert info.flavor == "pyfunc"
    np.testing.assert_array_equal(lw.load_model(info.uri).predict(np.ones((2, 3))), [9.0, 9.0])
