"""Crafted packages run nothing on load: trust is Loopwright's, never the manifest's (issue 10 item 1).

Each attack is a real package folder — a skops file whose schema names a callable, or a pyfunc/torch
manifest naming a module — logged with ``lw.log_artifact`` and registered, as an attacker with write
access to a store would. The attack's payload writes a marker file; every test asserts the marker is
absent and the refusal is one typed error naming the untrusted type.
"""

from __future__ import annotations

import hashlib
import json
import operator
import pickle
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

import loopwright as lw
from cli_process import free_port, one_line_error, run_cli
from loopwright.errors import PermissionDenied
from loopwright.models.manifest import manifest_bytes
from loopwright.models.trust import code_refusal, module_kind, safe_type_names

FEATURES = ["a", "b"]


def _frame(n: int = 40) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(n, 2)), columns=FEATURES)
    return X, (X.a > 0).astype(int)


def _json_node(value: Any) -> dict[str, Any]:
    return {
        "__class__": type(value).__name__,
        "__module__": "builtins",
        "__loader__": "JsonNode",
        "content": json.dumps(value),
        "is_json": True,
    }


def _call_node(module: str, name: str, *args: Any) -> dict[str, Any]:
    """A skops node that calls ``module.name(*args)`` when constructed (what a crafted file holds)."""
    return {
        "__class__": name,
        "__module__": module,
        "__loader__": "ConstructorFromReduceNode",
        "content": {
            "__class__": "tuple",
            "__module__": "builtins",
            "__loader__": "TupleNode",
            "content": [_json_node(a) for a in args],
        },
    }


def _inject(skops_file: Path, attribute: str, node: dict[str, Any]) -> bytes:
    """The skops archive with ``node`` added as an attribute of the top-level estimator."""
    out = skops_file.with_suffix(".crafted")
    with zipfile.ZipFile(skops_file) as src, zipfile.ZipFile(out, "w") as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == "schema.json":
                schema = json.loads(data)
                schema["content"]["content"][attribute] = node
                data = json.dumps(schema).encode()
            dst.writestr(item, data)
    return out.read_bytes()


def _package(folder: Path, manifest: dict[str, Any], files: dict[str, bytes]) -> Path:
    """A package folder: ``files`` plus a manifest listing their digests (a valid-looking package)."""
    folder.mkdir(parents=True)
    entries = []
    for name, data in files.items():
        (folder / name).write_bytes(data)
        entries.append({"path": name, "sha256": hashlib.sha256(data).hexdigest(), "size": len(data)})
    (folder / "manifest.json").write_bytes(manifest_bytes({**manifest, "files": entries}))
    return folder


def _register_folder(folder: Path, name: str) -> str:
    """``lw.log_artifacts`` the folder as ``model`` and register it: what an attacker can do."""
    with lw.start_run(name=f"crafted-{name}") as run:
        lw.log_artifacts(str(folder), "model")
    return f"models:/{name}/{lw.register_model(f'runs:/{run.id}/model', name).version}"


def _legit_sklearn(tmp_path: Path) -> tuple[dict[str, Any], Path]:
    """A real sklearn package's manifest and its skops file, to craft from."""
    X, y = _frame()
    with lw.start_run():
        info = lw.log_model(LogisticRegression().fit(X, y), "model", input_example=X.head(3))
    loaded = lw.load_model(info.uri)
    skops_file = tmp_path / "legit.skops"
    skops_file.write_bytes(lw.get_client().blobs.get_bytes(loaded.manifest["files"][0]["sha256"]))
    return dict(loaded.manifest), skops_file


def _crafted_sklearn(tmp_path: Path, node: dict[str, Any], listed: str, name: str) -> str:
    manifest, skops_file = _legit_sklearn(tmp_path)
    options = {**manifest["flavor_options"]}
    options["trusted_types"] = [*options["trusted_types"], listed]  # the attacker vouches for itself
    manifest.update(flavor_options=options, allow_pickle=False)
    folder = _package(tmp_path / name, manifest, {"model.skops": _inject(skops_file, "evil", node)})
    return _register_folder(folder, name)


@pytest.fixture
def marker(tmp_path: Path) -> Path:
    return tmp_path / "pwned"


@pytest.fixture
def exec_package(sqlite_env: Path, tmp_path: Path, marker: Path) -> str:
    code = f"open({str(marker)!r}, 'w').write('ran')"
    return _crafted_sklearn(tmp_path, _call_node("builtins", "exec", code), "builtins.exec", "exec-model")


class _Payload:
    """Unpickling this creates the marker file (a pickle blob ``numpy.load`` would open)."""

    def __init__(self, path: Path):
        self.path = str(path)

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (self.path, "w"))


@pytest.fixture
def numpy_load_package(sqlite_env: Path, tmp_path: Path, marker: Path) -> str:
    blob = tmp_path / "blob.npy"
    blob.write_bytes(pickle.dumps(_Payload(marker)))
    node = _call_node("numpy", "load", str(blob), None, True)
    return _crafted_sklearn(tmp_path, node, "numpy.load", "npload-model")


@pytest.mark.parametrize(
    ("package", "refused"), [("exec_package", "builtins.exec"), ("numpy_load_package", "numpy.load")]
)
def test_a_crafted_skops_file_runs_nothing_in_load_model(
    package: str, refused: str, marker: Path, request: pytest.FixtureRequest
) -> None:
    uri = request.getfixturevalue(package)
    with pytest.raises(PermissionDenied, match=refused.replace(".", r"\.")) as info:
        lw.load_model(uri)
    assert "allow_pickle=True" in str(info.value) and "\n" not in str(info.value)
    assert not marker.exists()


def test_a_pyfunc_manifest_naming_a_stdlib_module_imports_nothing(
    sqlite_env: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    manifest = {
        "format": "loopwright.model/1",
        "flavor": "pyfunc",
        "flavor_options": {"class": "this:nothing", "config": {}, "artifacts": {}},
        "allow_pickle": False,
    }
    uri = _register_folder(_package(tmp_path / "zen", manifest, {}), "zen")
    sys.modules.pop("this", None)
    with pytest.raises(PermissionDenied, match="this:nothing") as info:
        lw.load_model(uri)
    assert "LOOPWRIGHT_TRUSTED_MODULES" in str(info.value)
    assert "this" not in sys.modules
    assert "Beautiful is better than ugly" not in capfd.readouterr().out


def test_a_torch_manifest_naming_os_system_imports_nothing(sqlite_env: Path, tmp_path: Path) -> None:
    manifest = {
        "format": "loopwright.model/1",
        "flavor": "torch",
        "flavor_options": {"class": "os:system", "init_kwargs": {}, "file": "weights.safetensors"},
        "allow_pickle": False,
    }
    uri = _register_folder(_package(tmp_path / "t", manifest, {"weights.safetensors": b"{}"}), "torchy")
    with pytest.raises(PermissionDenied, match="os:system"):
        lw.load_model(uri)


def test_a_logged_pyfunc_from_user_code_still_loads(sqlite_env: Path) -> None:
    from example_models import ScaleModel  # a module of the user's own (tests/models), not site-packages

    with lw.start_run():
        info = lw.log_model(ScaleModel(factor=3.0), "model")
    assert lw.load_model(info.uri).predict(np.array([[1.0]])).tolist() == [3.0]


def test_unrecorded_code_loads_when_the_operator_trusts_its_module(
    sqlite_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    manifest = {
        "format": "loopwright.model/1",
        "flavor": "pyfunc",
        "flavor_options": {"class": "example_models:ScaleModel", "config": {"factor": 2.0}, "artifacts": {}},
        "allow_pickle": False,
    }
    uri = _register_folder(_package(tmp_path / "copied", manifest, {}), "copied")
    with pytest.raises(PermissionDenied, match="did not record"):
        lw.load_model(uri)
    monkeypatch.setenv("LOOPWRIGHT_TRUSTED_MODULES", "acme.,example_models")
    assert lw.load_model(uri).predict(np.array([[2.0]])).tolist() == [4.0]


def test_a_function_in_a_skops_file_needs_allow_pickle(sqlite_env: Path, tmp_path: Path) -> None:
    """A genuine model holding a non-ufunc function: refused by default, loaded with consent."""
    import skops.io

    X, y = _frame()
    model = make_pipeline(FunctionTransformer(operator.neg), LogisticRegression()).fit(X, y)
    manifest, _ = _legit_sklearn(tmp_path)
    path = tmp_path / "neg.skops"
    skops.io.dump(model, path)
    uri = _register_folder(_package(tmp_path / "neg", manifest, {"model.skops": path.read_bytes()}), "neg")
    with pytest.raises(PermissionDenied, match=r"_operator\.neg"):
        lw.load_model(uri)
    loaded = lw.load_model(uri, allow_pickle=True)
    assert loaded.predict(X).tolist() == model.predict(X).tolist()


def test_the_allow_list_names_types_not_callables() -> None:
    names = safe_type_names()
    for callable_name in (
        "builtins.exec",
        "builtins.eval",
        "builtins.getattr",
        "numpy.load",
        "operator.attrgetter",
    ):
        assert callable_name not in names
    assert not any(n.startswith(("functools.", "operator.", "os.", "subprocess.")) for n in names)
    assert {"numpy.float64", "numpy.dtype", "sklearn.tree._tree.Tree"} <= names


@pytest.mark.parametrize(
    ("module", "kind"),
    [("os", "standard library"), ("this", "standard library"), ("sklearn", "installed package")],
)
def test_module_kind_is_found_without_importing(module: str, kind: str) -> None:
    sys.modules.pop("this", None)
    assert module_kind(module) == kind
    assert "this" not in sys.modules


def test_code_paths_reaching_through_dunders_are_refused() -> None:
    refusal = code_refusal("example_models:ScaleModel.__init__.__globals__", vouched=True, trusted=())
    assert refusal is not None and "module:QualName" in refusal


def test_models_show_lists_the_code_a_version_imports(exec_package: str, tmp_path: Path) -> None:
    from example_models import ScaleModel

    with lw.start_run():
        info = lw.log_model(ScaleModel(), "model")
    lw.register_model(info.uri, "scaler")
    shown = run_cli("models", "show", "scaler", "--version", "1")
    assert shown.returncode == 0, shown.stderr
    assert "example_models:ScaleModel (imported on load)" in shown.stdout


def test_serve_refuses_a_crafted_version_in_one_line(exec_package: str, marker: Path) -> None:
    result = run_cli("serve", exec_package, "--port", str(free_port()), timeout=120)
    one_line_error(result, "builtins.exec")
    assert not marker.exists()


def test_a_hot_swap_to_a_crafted_version_keeps_the_served_one(
    sqlite_env: Path, tmp_path: Path, marker: Path
) -> None:
    X, y = _frame()
    with lw.start_run():
        info = lw.log_model(LogisticRegression().fit(X, y), "model", input_example=X.head(3))
    lw.register_model(info.uri, "swap")
    lw.set_alias("swap", "champion", 1)
    _crafted_sklearn(
        tmp_path, _call_node("builtins", "exec", f"open({str(marker)!r}, 'w')"), "builtins.exec", "evil"
    )
    evil_manifest_run = lw.get_model_version("evil", 1)
    crafted = lw.register_model(f"runs:/{evil_manifest_run.run_id}/model", "swap").version
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "loopwright.cli", "serve", "models:/swap@champion", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        from cli_process import wait_ready

        wait_ready(url, proc)
        lw.set_alias("swap", "champion", crafted)
        httpx.post(f"{url}/admin/reload", timeout=60)
        time.sleep(0.5)
        answer = httpx.post(f"{url}/endpoints/swap/predict", json={"instances": [{"a": 1.0, "b": 0.0}]})
        assert answer.status_code == 200 and answer.headers["x-model-version"] == "1"
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=60)
    assert not marker.exists()
    assert "builtins.exec" in err and "Traceback" not in err


def test_histogram_boosting_trees_are_bounds_checked() -> None:
    """TreePredictor is on the allow-list only because its node indices are checked after loading."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    from loopwright.errors import IntegrityError
    from loopwright.models.flavors.sklearn import check_trees

    X, y = _frame(200)
    model = HistGradientBoostingClassifier(max_iter=3).fit(X, y)
    check_trees(model, "model.skops")
    nodes = model._predictors[0][0].nodes
    inner = np.flatnonzero(nodes["is_leaf"] == 0)[0]
    nodes["left"][inner] = len(nodes) + 5
    with pytest.raises(IntegrityError, match="histogram-boosting tree"):
        check_trees(model, "model.skops")


@pytest.mark.parametrize(
    ("flavor", "options"),
    [
        ("xgboost", {"file": "/etc/passwd", "class": "XGBClassifier"}),
        ("onnx", {"file": "../../../../etc/passwd"}),
        (
            "pyfunc",
            {"class": "example_models:ScaleModel", "config": {"factor": 1}, "artifacts": {"w": "/etc"}},
        ),
    ],
)
def test_a_manifest_cannot_point_a_flavor_outside_its_package(
    flavor: str, options: dict[str, Any], sqlite_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from loopwright.errors import IntegrityError

    monkeypatch.setenv("LOOPWRIGHT_TRUSTED_MODULES", "example_models")
    manifest = {
        "format": "loopwright.model/1",
        "flavor": flavor,
        "flavor_options": options,
        "allow_pickle": False,
    }
    uri = _register_folder(_package(tmp_path / flavor, manifest, {"model.bin": b"0"}), f"escape-{flavor}")
    with pytest.raises(IntegrityError, match="is not a file of the package"):
        lw.load_model(uri)
