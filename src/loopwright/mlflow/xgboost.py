"""``mlflow.xgboost``: ``log_model`` / ``load_model`` / ``autolog`` for XGBoost models, as Loopwright packages.

Examples
--------
>>> import loopwright.mlflow as mlflow
>>> mlflow.xgboost.FLAVOR_NAME
'xgboost'
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from loopwright.mlflow.models import ModelInfo, log_flavor_model
from loopwright.models.loading import load_model as lw_load_model

FLAVOR_NAME = "xgboost"


def log_model(
    xgb_model: Any,
    artifact_path: str | None = None,
    *,
    name: str | None = None,
    signature: Any = None,
    input_example: Any = None,
    registered_model_name: str | None = None,
    pip_requirements: Sequence[str] | None = None,
    metadata: Mapping[str, Any] | None = None,
    **extra: Any,
) -> ModelInfo:
    """Log a XGBoost model in the active run (started if none); returns :class:`~loopwright.mlflow.models.ModelInfo`."""
    return log_flavor_model(
        "mlflow.xgboost.log_model",
        xgb_model,
        name,
        artifact_path,
        signature,
        input_example,
        registered_model_name,
        pip_requirements,
        metadata,
        extra,
        flavor="xgboost",
    )


def load_model(model_uri: str, dst_path: str | None = None) -> Any:
    """The native XGBoost model of a package (verified first), as MLflow's flavor loader returns."""
    if dst_path is not None:
        from loopwright.mlflow.exceptions import Unsupported

        raise Unsupported("xgboost.load_model(dst_path=)", "lw.load_model(uri).native")
    return lw_load_model(str(model_uri)).native


def autolog(disable: bool = False, **options: Any) -> None:
    """Turn autologging of XGBoost training on (or off with ``disable=True``); see :func:`loopwright.autolog`."""
    from loopwright.tracking.autolog import autolog as lw_autolog

    lw_autolog(disable=disable, frameworks=["xgboost"], **options)
