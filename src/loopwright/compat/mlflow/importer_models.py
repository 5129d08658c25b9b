"""MLflow model folders → the native model objects Loopwright's flavors save (the importer's model half).

An MLflow model is a folder with an ``MLmodel`` YAML naming its flavors. XGBoost, LightGBM boosters and
ONNX store native files that load without unpickling; an sklearn model saved with skops loads through
Loopwright's own skops trust list. Pickled sklearn / LightGBM-sklearn models and ``python_function``
models (cloudpickle) load only with ``allow_pickle`` — loading them *is* unpickling — and come back
marked ``unpickled``.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from loopwright.errors import PermissionDenied

MLMODEL = "MLmodel"
PICKLE_HINT = "loading it unpickles: pass --allow-pickle (allow_pickle=True) to import it"


@dataclass(frozen=True)
class Native:
    """A model object loaded from an MLflow folder, ready for ``lw.log_model``."""

    model: Any
    mlflow_flavor: str
    unpickled: bool
    flavor: str | None = None  # forced Loopwright flavor (pickle for pyfunc), else detected
    input_example: Any = None


class NotConvertible(Exception):
    """Why an MLflow model cannot become a Loopwright package (it is then kept as plain artifacts)."""


def read_mlmodel(folder: Path) -> dict[str, Any]:
    """The folder's ``MLmodel`` as a dict (``{}`` when it is not a mapping)."""
    loaded = yaml.safe_load((folder / MLMODEL).read_text())
    return loaded if isinstance(loaded, dict) else {}


def load_native(folder: Path, allow_pickle: bool) -> Native:
    """Load the model in an MLflow model folder without MLflow's pickle paths unless ``allow_pickle``.

    Raises :class:`NotConvertible` with the reason when the format has no Loopwright flavor or needs
    unpickling without consent.
    """
    flavors = read_mlmodel(folder).get("flavors") or {}
    if not isinstance(flavors, dict):
        raise NotConvertible("MLmodel has no flavors")
    example = _input_example(folder)
    if "xgboost" in flavors:
        return Native(_xgboost(folder, flavors["xgboost"]), "xgboost", False, None, example)
    if "lightgbm" in flavors:
        model, unpickled = _lightgbm(folder, flavors["lightgbm"], allow_pickle)
        return Native(model, "lightgbm", unpickled, None, example)
    if "onnx" in flavors:
        import onnx

        return Native(
            onnx.load(str(_data_file(folder, flavors["onnx"], "data"))), "onnx", False, None, example
        )
    if "sklearn" in flavors:
        model, unpickled = _sklearn(folder, flavors["sklearn"], allow_pickle)
        return Native(model, "sklearn", unpickled, None, example)
    pyfunc = flavors.get("python_function")
    if (
        len(flavors) == 1
        and isinstance(pyfunc, dict)
        and pyfunc.get("loader_module") == "mlflow.pyfunc.model"
    ):
        if not allow_pickle:
            raise NotConvertible(f"python_function model (cloudpickled PythonModel): {PICKLE_HINT}")
        return Native(MlflowPyfuncModel.from_folder(folder), "python_function", True, "pickle", example)
    raise NotConvertible(f"MLflow flavor(s) {sorted(flavors)} have no Loopwright equivalent")


def _data_file(folder: Path, options: Any, key: str) -> Path:
    name = options.get(key) if isinstance(options, dict) else None
    path = (folder / str(name)).resolve() if name else None
    if path is None or not path.is_file() or folder.resolve() not in path.parents:
        raise NotConvertible(f"MLmodel's {key} {name!r} is not a file inside the model folder")
    return path


def _xgboost(folder: Path, options: dict[str, Any]) -> Any:
    import xgboost

    from loopwright.models.flavors.xgboost import CLASSES

    class_name = str(options.get("model_class", "")).rsplit(".", 1)[-1]
    if class_name not in CLASSES:  # never import an arbitrary path the MLmodel names
        raise NotConvertible(
            f"xgboost model class {options.get('model_class')!r} is not one Loopwright loads"
        )
    model = getattr(xgboost, class_name)()
    model.load_model(str(_data_file(folder, options, "data")))  # json / ubj / legacy binary: no pickle
    return model


def _lightgbm(folder: Path, options: dict[str, Any], allow_pickle: bool) -> tuple[Any, bool]:
    import lightgbm

    data = _data_file(folder, options, "data")
    if str(options.get("model_class", "")).endswith(".Booster") and data.suffix != ".pkl":
        return lightgbm.Booster(model_file=str(data)), False
    # MLflow pickles LightGBM's scikit-learn wrappers (LGBMClassifier …)
    if not allow_pickle:
        raise NotConvertible(f"pickled LightGBM {options.get('model_class')}: {PICKLE_HINT}")
    import mlflow.lightgbm

    return mlflow.lightgbm.load_model(str(folder)), True


def _sklearn(folder: Path, options: dict[str, Any], allow_pickle: bool) -> tuple[Any, bool]:
    fmt = options.get("serialization_format")
    if fmt == "skops":
        from loopwright.models.flavors.sklearn import FILE, SklearnFlavor

        path = _data_file(folder, options, "pickled_model")
        with tempfile.TemporaryDirectory(prefix="loopwright-import-") as tmp:
            (Path(tmp) / FILE).write_bytes(path.read_bytes())  # the flavor reads its one file name
            try:  # Loopwright's skops trust list decides, not the file
                return SklearnFlavor().load(Path(tmp), {"file": FILE}), False
            except PermissionDenied as denied:
                if not allow_pickle:
                    raise NotConvertible(
                        f"skops file needs untrusted types ({denied}); {PICKLE_HINT}"
                    ) from None
                return SklearnFlavor().load(Path(tmp), {"file": FILE}, allow_pickle=True), True
    if not allow_pickle:
        raise NotConvertible(f"sklearn model saved with {fmt}: {PICKLE_HINT}")
    import mlflow.sklearn

    return mlflow.sklearn.load_model(str(folder)), True


def _input_example(folder: Path) -> Any:
    """MLflow's saved input example (an array or frame), read by MLflow itself; ``None`` if absent."""
    import pandas as pd
    from mlflow.models import Model

    try:
        example = Model.load(str(folder / MLMODEL)).load_input_example(str(folder))
    except Exception:  # a missing or unreadable example only costs the signature
        return None
    if isinstance(example, pd.DataFrame) or hasattr(example, "__array__"):
        return example
    return None


class MlflowPyfuncModel:
    """An MLflow ``python_function`` model kept as its folder's files; loaded by MLflow on first predict.

    Pickled by the importer with ``allow_pickle`` (Loopwright's pickle flavor): the pickle holds only
    bytes; MLflow's cloudpickle of the ``PythonModel`` runs when the model is first used, so loading
    needs ``allow_pickle=True`` and the ``mlflow`` package.
    """

    def __init__(self, files: dict[str, bytes]):
        self.files = files
        self._loaded: Any = None

    @classmethod
    def from_folder(cls, folder: Path) -> MlflowPyfuncModel:
        return cls(
            {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}
        )

    def __getstate__(self) -> dict[str, Any]:
        return {"files": self.files}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.files = state["files"]
        self._loaded = None

    def predict(self, data: Any) -> Any:
        if self._loaded is None:
            import mlflow.pyfunc

            folder = Path(tempfile.mkdtemp(prefix="loopwright-pyfunc-"))
            for name, content in self.files.items():
                (folder / name).parent.mkdir(parents=True, exist_ok=True)
                (folder / name).write_bytes(content)
            self._loaded = mlflow.pyfunc.load_model(str(folder))
        return self._loaded.predict(data)
