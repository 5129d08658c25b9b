"""``mlflow.models``: ``infer_signature``, ``ModelSignature``, ``ModelInfo`` and the one ``log_model`` the flavors share.

A model logged through any ``loopwright.mlflow.<flavor>.log_model`` is an ordinary Loopwright package
(``lw.log_model``): verified, signed by its signature, loadable by ``lw.load_model`` and by
``loopwright.mlflow.pyfunc.load_model``. MLflow 3 names the model with ``name=``; ``artifact_path=``
(MLflow 2) is accepted too, with a ``FutureWarning`` as MLflow 3 gives.

Examples
--------
>>> import numpy as np
>>> signature = infer_signature(np.zeros((4, 2)), np.zeros(4))
>>> signature.kind, signature.inputs.shape
('tensor', (-1, 2))
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from loopwright.mlflow.exceptions import Unsupported
from loopwright.mlflow.fluent import get_or_start_run
from loopwright.models.package import log_model as lw_log_model
from loopwright.models.signature import Signature
from loopwright.models.signature import infer_signature as lw_infer_signature

ModelSignature = Signature


def infer_signature(
    model_input: Any, model_output: Any = None, params: Mapping[str, Any] | None = None
) -> Signature:
    """MLflow's ``infer_signature``: Loopwright's :class:`~loopwright.Signature` of the input (and output).

    >>> import pandas as pd
    >>> infer_signature(pd.DataFrame({"x": [1.0]})).columns
    ['x']
    """
    if params:
        raise Unsupported("infer_signature(params=)", "pass inference options to predict() yourself")
    return lw_infer_signature(model_input, model_output)


@dataclass(frozen=True)
class ModelInfo:
    """What a flavor's ``log_model`` returns, with MLflow's field names.

    >>> ModelInfo("runs:/abc/model", "abc", "model", "sklearn", None, "0" * 64).model_uri
    'runs:/abc/model'
    """

    model_uri: str
    run_id: str
    artifact_path: str
    flavor: str
    signature: Signature | None
    manifest_digest: str
    registered_model_version: int | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    utc_time_created: str = field(default_factory=lambda: datetime.now(UTC).isoformat())

    @property
    def flavors(self) -> dict[str, Any]:
        return {self.flavor: {}, "python_function": {}}

    @property
    def name(self) -> str:
        return self.artifact_path


_REFUSED = {
    "conda_env": "requirements (pip_requirements=)",
    "code_paths": "an importable package for your code (LOOPWRIGHT_TRUSTED_MODULES or your own project)",
    "code_path": "an importable package for your code",
    "extra_pip_requirements": "pip_requirements= (the complete list)",
    "serialization_format": "Loopwright's safe format for the flavor (skops, model.json, model.txt)",
    "await_registration_for": "lw.register_model (registration is synchronous)",
    "pyfunc_predict_fn": "a pyfunc PythonModel whose predict calls the method you want",
    "loader_module": "a loopwright.mlflow.pyfunc.PythonModel subclass",
    "data_path": "artifacts= on pyfunc.log_model",
    "model_id": "model URIs runs:/RUN_ID/NAME",
    "step": "one model per name in a run",
    "model_type": "metadata=",
    "prompts": "metadata=",
}


def log_flavor_model(
    flavor_call: str,
    model: Any,
    name: str | None,
    artifact_path: str | None,
    signature: Any,
    input_example: Any,
    registered_model_name: str | None,
    pip_requirements: Sequence[str] | None,
    metadata: Mapping[str, Any] | None,
    extra: Mapping[str, Any],
    flavor: str | None = None,
) -> ModelInfo:
    """Log through ``lw.log_model`` in the active run (started if none, as MLflow does)."""
    given = {k: v for k, v in extra.items() if v is not None}
    for key in given:
        instead = _REFUSED.get(key, "the arguments of lw.log_model")
        raise Unsupported(f"{flavor_call}({key}=)", instead)
    if artifact_path is not None and name is None:
        warnings.warn(
            f"{flavor_call}(artifact_path=) is deprecated in MLflow 3; use name=", FutureWarning, stacklevel=3
        )
    path = name or artifact_path or "model"
    if signature is False:
        signature = None
    info = lw_log_model(
        model,
        path,
        input_example=input_example,
        signature=signature,
        requirements=pip_requirements,
        metadata=metadata,
        flavor=flavor,
        run_id=get_or_start_run(),
    )
    version = None
    if registered_model_name is not None:
        from loopwright.registry.fluent import register_model

        version = register_model(info.uri, registered_model_name).version
    return ModelInfo(
        model_uri=info.uri,
        run_id=info.run_id,
        artifact_path=info.artifact_path,
        flavor=info.flavor,
        signature=info.signature,
        manifest_digest=info.manifest_digest,
        registered_model_version=version,
        metadata=dict(metadata or {}),
    )
