"""``import loopwright.mlflow as mlflow``: MLflow's Python API over Loopwright, for scripts people already have.

The module mirrors MLflow's layout (``loopwright.mlflow.sklearn``, ``.pyfunc``, ``.models``, ``.data``,
``.artifacts``, ``.xgboost``, ``.lightgbm``, ``.client.MlflowClient``, ``.exceptions``, ``.entities``) and
translates every call onto Loopwright's own API: it owns no data, so what a script logs is what
``lw.search_runs``, the CLI and the UI show. A call it cannot honour exactly raises
:class:`Unsupported` (an ``InvalidInput``) naming the MLflow call and what to use instead — never a
silent difference. See README's "Coming from MLflow" for the list.

Examples
--------
>>> import os, tempfile, loopwright as lw, loopwright.mlflow as mlflow
>>> os.environ["LOOPWRIGHT_HOME"] = tempfile.mkdtemp()
>>> _ = mlflow.set_experiment("demo")
>>> with mlflow.start_run(run_name="baseline") as run:
...     _ = mlflow.log_param("alpha", 0.5)
...     mlflow.log_metric("rmse", 0.7)
>>> lw.get_run(run.info.run_id).metrics
{'rmse': 0.7}
>>> del os.environ["LOOPWRIGHT_HOME"]; lw.reset_clients()
"""

from __future__ import annotations

import importlib
from typing import Any

from loopwright.mlflow.entities import RunStatus, ViewType
from loopwright.mlflow.exceptions import MlflowException, Unsupported
from loopwright.mlflow.fluent import (
    ActiveRun,
    active_run,
    create_experiment,
    delete_experiment,
    delete_tag,
    end_run,
    get_artifact_uri,
    get_experiment,
    get_experiment_by_name,
    get_run,
    last_active_run,
    log_artifact,
    log_artifacts,
    log_dict,
    log_figure,
    log_image,
    log_input,
    log_metric,
    log_metrics,
    log_param,
    log_params,
    log_table,
    log_text,
    search_experiments,
    search_runs,
    set_experiment,
    set_tag,
    set_tags,
    start_run,
)
from loopwright.mlflow.tracking_uri import get_tracking_uri, set_tracking_uri

_SUBMODULES = {
    "artifacts",
    "client",
    "data",
    "entities",
    "exceptions",
    "lightgbm",
    "models",
    "pyfunc",
    "sklearn",
    "tracking",
    "xgboost",
}


def __getattr__(name: str) -> Any:
    # MLflow loads its flavor modules lazily too: `mlflow.sklearn` without importing scikit-learn up front
    if name in _SUBMODULES:
        return importlib.import_module(f"loopwright.mlflow.{name}")
    if name == "MlflowClient":
        from loopwright.mlflow.client import MlflowClient

        return MlflowClient
    if name in ("register_model", "autolog"):
        module = importlib.import_module(
            "loopwright.mlflow.client" if name == "register_model" else "loopwright.tracking.autolog"
        )
        return getattr(module, name)
    raise AttributeError(f"module 'loopwright.mlflow' has no attribute {name!r}")


__all__ = [
    "ActiveRun",
    "MlflowException",
    "RunStatus",
    "Unsupported",
    "ViewType",
    "active_run",
    "create_experiment",
    "delete_experiment",
    "delete_tag",
    "end_run",
    "get_artifact_uri",
    "get_experiment",
    "get_experiment_by_name",
    "get_run",
    "get_tracking_uri",
    "last_active_run",
    "log_artifact",
    "log_artifacts",
    "log_dict",
    "log_figure",
    "log_image",
    "log_input",
    "log_metric",
    "log_metrics",
    "log_param",
    "log_params",
    "log_table",
    "log_text",
    "search_experiments",
    "search_runs",
    "set_experiment",
    "set_tag",
    "set_tags",
    "set_tracking_uri",
    "start_run",
]
