"""``mlflow.pyfunc``: ``load_model`` for any Loopwright package, and MLflow ``PythonModel`` classes.

A ``PythonModel`` subclass (``load_context(context)``, ``predict(context, model_input, params=None)``)
is logged as a Loopwright pyfunc package: the class's import path, its ``artifacts`` files and its
``model_config``; it is never pickled. Loading imports the class under Loopwright's trust rules
(``models/trust.py``: recorded by ``log_model`` for that package and defined in your own code, or
named by ``LOOPWRIGHT_TRUSTED_MODULES``), builds it with no arguments and calls ``load_context``.
So, unlike MLflow's cloudpickle, the class must live in an importable module (not ``__main__``) and
keep its state in ``artifacts`` / ``model_config``, not in ``__init__`` arguments.

Examples
--------
>>> class Doubler(PythonModel):
...     def predict(self, context, model_input, params=None):
...         return [x * context.model_config.get("factor", 2) for x in model_input]
>>> model = Doubler()
>>> model.predict([1, 2])  # Loopwright's pyfunc call: one argument
[2, 4]
>>> model.predict(PythonModelContext({}, {"factor": 3}), [1, 2])  # MLflow's call
[3, 6]
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from loopwright.mlflow.exceptions import Unsupported
from loopwright.mlflow.models import ModelInfo, log_flavor_model
from loopwright.models.flavors.pyfunc import PyfuncContext
from loopwright.models.flavors.pyfunc import PythonModel as LwPythonModel
from loopwright.models.loaded import LoadedModel
from loopwright.models.loading import load_model as lw_load_model
from loopwright.models.signature import Signature


@dataclass(frozen=True)
class PythonModelContext:
    """What ``load_context`` and ``predict`` receive: local file paths (str) and the model config."""

    artifacts: dict[str, str] = field(default_factory=dict)
    model_config: dict[str, Any] = field(default_factory=dict)


def _mlflow_predict(method: Callable[..., Any]) -> Callable[..., Any]:
    # Loopwright's predictor calls predict(data); MLflow code calls predict(context, data, params)
    @functools.wraps(method)
    def predict(self: PythonModel, *args: Any, **kwargs: Any) -> Any:
        if len(args) == 1 and not isinstance(args[0], PythonModelContext) and "model_input" not in kwargs:
            return method(self, self.context, args[0], kwargs.get("params"))
        return method(self, *args, **kwargs)

    return predict


class PythonModel(LwPythonModel):
    """Base class for MLflow-style custom models; see the module docstring.

    >>> PythonModel().context.artifacts
    {}
    """

    _context: PythonModelContext | None = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "predict" in cls.__dict__:
            cls.predict = _mlflow_predict(cls.__dict__["predict"])  # type: ignore[method-assign]

    @property
    def context(self) -> PythonModelContext:
        if self._context is None:
            self._context = PythonModelContext(
                {k: str(v) for k, v in dict(self.artifacts).items()}, dict(self.config)
            )
        return self._context

    def load(self, context: PyfuncContext) -> None:
        self._context = PythonModelContext(
            {k: str(v) for k, v in context.artifacts.items()}, dict(context.config)
        )
        self.load_context(self._context)

    def load_context(self, context: PythonModelContext) -> None:
        """Read ``context.artifacts`` once after loading."""

    def predict(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("define predict(self, context, model_input, params=None)")


@dataclass(frozen=True)
class ModelMetadata:
    """``PyFuncModel.metadata``: where the package came from and its signature."""

    run_id: str | None
    artifact_path: str | None
    signature: Signature | None
    flavors: dict[str, Any]
    metadata: dict[str, Any]
    model_uuid: str

    def get_input_schema(self) -> Any:
        return None if self.signature is None else self.signature.inputs

    def get_output_schema(self) -> Any:
        return None if self.signature is None else self.signature.outputs


class PyFuncModel:
    """What :func:`load_model` returns: ``predict(data, params=None)`` and ``metadata``.

    ``loaded`` is the underlying :class:`~loopwright.LoadedModel` (validation, ``predict_proba``).
    """

    def __init__(self, loaded: LoadedModel):
        self.loaded = loaded
        manifest = loaded.manifest
        self.metadata = ModelMetadata(
            run_id=manifest.get("run_id"),
            artifact_path=manifest.get("artifact_path"),
            signature=loaded.signature,
            flavors={loaded.flavor: dict(manifest.get("flavor_options") or {}), "python_function": {}},
            metadata=loaded.metadata,
            model_uuid=loaded.manifest_digest,
        )

    def __repr__(self) -> str:
        return f"PyFuncModel({self.loaded.uri!r}, flavor={self.loaded.flavor!r})"

    def predict(self, data: Any, params: Mapping[str, Any] | None = None) -> Any:
        if params:
            native = self.loaded.native
            if not isinstance(native, PythonModel):
                raise Unsupported(f"predict(params=) on a {self.loaded.flavor} model", "predict(data)")
            return native.predict(native.context, data, dict(params))
        return self.loaded.predict(data)

    def unwrap_python_model(self) -> Any:
        return self.loaded.native


def load_model(
    model_uri: str, suppress_warnings: bool = False, dst_path: str | None = None, model_config: Any = None
) -> PyFuncModel:
    """Load any Loopwright package (``runs:/``, ``models:/NAME/V``, ``models:/NAME@ALIAS``), verified."""
    if dst_path is not None or model_config is not None:
        raise Unsupported(
            "pyfunc.load_model(dst_path=/model_config=)", "lw.load_model(uri) (verified temp copy)"
        )
    return PyFuncModel(lw_load_model(str(model_uri)))


def log_model(
    name: str | None = None,
    python_model: Any = None,
    artifacts: Mapping[str, str | os.PathLike[str]] | None = None,
    model_config: Mapping[str, Any] | None = None,
    signature: Any = None,
    input_example: Any = None,
    registered_model_name: str | None = None,
    pip_requirements: Sequence[str] | None = None,
    metadata: Mapping[str, Any] | None = None,
    artifact_path: str | None = None,
    **extra: Any,
) -> ModelInfo:
    """Log a :class:`PythonModel` instance as a pyfunc package (class path + artifacts + config)."""
    if (
        python_model is None
        or isinstance(python_model, (str, os.PathLike))
        or not hasattr(python_model, "load")
    ):
        raise Unsupported(
            "pyfunc.log_model(python_model=<file path | function>)",
            "a loopwright.mlflow.pyfunc.PythonModel subclass",
        )
    if artifacts is not None:
        python_model.artifacts = {k: os.fspath(v) for k, v in artifacts.items()}
    if model_config is not None:
        python_model.config = dict(model_config)
    return log_flavor_model(
        "mlflow.pyfunc.log_model",
        python_model,
        name,
        artifact_path,
        signature,
        input_example,
        registered_model_name,
        pip_requirements,
        metadata,
        extra,
        flavor="pyfunc",
    )
