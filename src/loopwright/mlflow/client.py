"""``MlflowClient`` over Loopwright's ``Client`` and ``RegistryClient``.

Registered models exist in Loopwright from their first version: ``create_registered_model`` checks
the name is free and keeps its tags/description until ``create_model_version`` creates it (in this
process). Stages are MLflow's deprecated API: ``transition_model_version_stage`` and
``get_latest_versions`` raise :class:`~loopwright.mlflow.exceptions.Unsupported` pointing at aliases.

Examples
--------
>>> import os, tempfile, numpy as np, loopwright as lw, loopwright.mlflow as mlflow
>>> from sklearn.linear_model import LinearRegression
>>> os.environ["LOOPWRIGHT_HOME"] = tempfile.mkdtemp()
>>> X = np.arange(8.0).reshape(4, 2)
>>> with mlflow.start_run() as run:
...     info = mlflow.sklearn.log_model(LinearRegression().fit(X, X.sum(axis=1)), name="model", input_example=X)
>>> client = MlflowClient()
>>> _ = client.create_registered_model("houses")
>>> version = client.create_model_version("houses", f"{run.info.artifact_uri}/model", run.info.run_id)
>>> client.set_registered_model_alias("houses", "champion", version.version)
>>> client.get_model_version_by_alias("houses", "champion").version, lw.get_model_version("houses", 1).run_id == run.info.run_id
('1', True)
>>> del os.environ["LOOPWRIGHT_HOME"]; lw.reset_clients()
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from loopwright.config import get_settings
from loopwright.errors import AlreadyExists, NotFound
from loopwright.mlflow.entities import (
    KILLED_TAG,
    Experiment,
    FileInfo,
    Metric,
    ModelVersion,
    RegisteredModel,
    Run,
    ViewType,
    to_experiment,
    to_model_version,
    to_registered_model,
    to_run,
)
from loopwright.mlflow.exceptions import Unsupported
from loopwright.mlflow.fluent import search_lw_runs
from loopwright.mlflow.tracking_uri import store_and_artifacts
from loopwright.registry.client import RegistryClient
from loopwright.store.entities import MetricPoint
from loopwright.tracking.client import Client, get_client, shared_client
from loopwright.uris import parse_run_uri

# create_registered_model's tags/description, applied when the first version creates the model
_pending: dict[tuple[str, str], tuple[dict[str, str], str | None]] = {}


class MlflowClient:
    """MLflow's client: experiments, runs, metric history, artifacts and the model registry."""

    def __init__(self, tracking_uri: str | None = None, registry_uri: str | None = None):
        if registry_uri is not None and registry_uri != tracking_uri:
            raise Unsupported("MlflowClient(registry_uri=) other than the tracking URI", "one store for both")
        if tracking_uri is None:
            self._client: Client = get_client()
        else:
            store, artifacts = store_and_artifacts(tracking_uri, os.environ)
            self._client = shared_client(store, artifacts or get_settings().artifact_uri)
        self._registry = RegistryClient(self._client)

    # -- experiments -------------------------------------------------------------------------
    def create_experiment(
        self, name: str, artifact_location: str | None = None, tags: Mapping[str, Any] | None = None
    ) -> str:
        if artifact_location is not None:
            raise Unsupported("create_experiment(artifact_location=)", "LOOPWRIGHT_ARTIFACT_URI")
        return self._client.create_experiment(name, {k: str(v) for k, v in (tags or {}).items()}).id

    def get_experiment(self, experiment_id: str) -> Experiment:
        return to_experiment(self._client.get_experiment(str(experiment_id)))

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        try:
            return to_experiment(self._client.get_experiment(name))
        except NotFound:
            return None

    def search_experiments(
        self, view_type: int = ViewType.ACTIVE_ONLY, **unsupported: Any
    ) -> list[Experiment]:
        if any(v for v in unsupported.values()):
            raise Unsupported("MlflowClient.search_experiments(filter_string=…)", "lw.list_experiments()")
        found = self._client.list_experiments(include_deleted=view_type != ViewType.ACTIVE_ONLY)
        return [to_experiment(e) for e in found]

    # -- runs ----------------------------------------------------------------------------------
    def create_run(
        self,
        experiment_id: str,
        start_time: int | None = None,
        tags: Mapping[str, Any] | None = None,
        run_name: str | None = None,
    ) -> Run:
        if start_time is not None:
            raise Unsupported("create_run(start_time=)", "the store's clock (runs start when created)")
        name = self._client.get_experiment(str(experiment_id)).name
        parent = (tags or {}).get("mlflow.parentRunId")
        rest = {k: v for k, v in (tags or {}).items() if k not in ("mlflow.parentRunId", "mlflow.runName")}
        run_name = run_name or (tags or {}).get("mlflow.runName")
        return to_run(self._client.create_run(name, name=run_name, tags=rest or None, parent_id=parent))

    def get_run(self, run_id: str) -> Run:
        return to_run(self._client.get_run(run_id))

    def set_terminated(self, run_id: str, status: str = "FINISHED", end_time: int | None = None) -> None:
        upper = status.upper()
        if upper not in ("FINISHED", "FAILED", "KILLED") or end_time is not None:
            raise Unsupported(f"set_terminated(status={status!r}, end_time=)", "FINISHED, FAILED or KILLED")
        if upper == "KILLED":
            self._client.set_tag(run_id, KILLED_TAG, "KILLED")
        self._client.end_run(
            run_id, "finished" if upper == "FINISHED" else "failed", None if upper == "FINISHED" else upper
        )

    def delete_run(self, run_id: str) -> None:
        self._client.delete_run(run_id)

    def restore_run(self, run_id: str) -> None:
        self._client.restore_run(run_id)

    def log_param(self, run_id: str, key: str, value: Any, synchronous: bool | None = None) -> Any:
        self._client.log_param(run_id, key, value)
        return value

    def log_metric(
        self,
        run_id: str,
        key: str,
        value: float,
        timestamp: int | None = None,
        step: int | None = None,
        synchronous: bool | None = None,
    ) -> None:
        self._client.log_metric(run_id, key, value, step or 0, timestamp)
        if synchronous:
            self._client.flush()

    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Any] = (),
        params: Sequence[Any] = (),
        tags: Sequence[Any] = (),
        synchronous: bool | None = None,
    ) -> None:
        """``metrics``/``params``/``tags``: MLflow entities (or anything with ``key``/``value``/``step``/``timestamp``)."""
        if params:
            self._client.log_params(run_id, {p.key: p.value for p in params})
        if tags:
            self._client.set_tags(run_id, {t.key: t.value for t in tags})
        if metrics:
            points = [MetricPoint(m.key, float(m.value), int(m.step or 0), int(m.timestamp)) for m in metrics]
            self._client.log_batch(run_id, points)

    def set_tag(self, run_id: str, key: str, value: Any, synchronous: bool | None = None) -> None:
        self._client.set_tag(run_id, key, value)

    def delete_tag(self, run_id: str, key: str) -> None:
        self._client.delete_tag(run_id, key)

    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        return [
            Metric(p.key, p.value, p.timestamp, p.step) for p in self._client.list_metric_history(run_id, key)
        ]

    def search_runs(
        self,
        experiment_ids: Sequence[str] | str,
        filter_string: str = "",
        run_view_type: int = ViewType.ACTIVE_ONLY,
        max_results: int = 1000,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> list[Run]:
        if page_token is not None:
            raise Unsupported("search_runs(page_token=)", "a larger max_results")
        ids = [experiment_ids] if isinstance(experiment_ids, str) else list(experiment_ids)
        names = [self._client.get_experiment(str(i)).name for i in ids]
        return [to_run(r) for r in search_lw_runs(names, filter_string, run_view_type, max_results, order_by)]

    # -- artifacts -----------------------------------------------------------------------------
    def log_artifact(self, run_id: str, local_path: str, artifact_path: str | None = None) -> None:
        self._client.log_artifact(run_id, local_path, artifact_path)

    def log_artifacts(self, run_id: str, local_dir: str, artifact_path: str | None = None) -> None:
        self._client.log_artifacts(run_id, local_dir, artifact_path)

    def log_text(self, run_id: str, text: str, artifact_file: str) -> None:
        self._client.log_text(run_id, text, artifact_file)

    def log_dict(self, run_id: str, dictionary: Mapping[str, Any], artifact_file: str) -> None:
        self._client.log_dict(run_id, dictionary, artifact_file)

    def list_artifacts(self, run_id: str, path: str | None = None) -> list[FileInfo]:
        """The direct children of ``path`` (folders with ``is_dir=True``), as MLflow lists them."""
        prefix = (path or "").strip("/")
        base = f"{prefix}/" if prefix else ""
        children: dict[str, FileInfo] = {}
        for ref in self._client.list_artifacts(run_id, prefix or None):
            if not ref.path.startswith(base):
                continue
            head, _, rest = ref.path[len(base) :].partition("/")
            child = base + head
            children[child] = FileInfo(child, True, None) if rest else FileInfo(child, False, ref.size)
        return sorted(children.values(), key=lambda f: f.path)

    def download_artifacts(self, run_id: str, path: str, dst_path: str | None = None) -> str:
        target = (
            Path(dst_path) if dst_path is not None else Path(tempfile.mkdtemp(prefix="loopwright-mlflow-"))
        )
        self._client.download_artifacts(run_id, path.strip("/") or None, target)
        return str(target / path.strip("/")) if path.strip("/") else str(target)

    # -- registry --------------------------------------------------------------------------------
    def create_registered_model(
        self, name: str, tags: Mapping[str, Any] | None = None, description: str | None = None
    ) -> RegisteredModel:
        try:
            self._registry.get_registered_model(name)
        except NotFound:
            _pending[(self._client.store.uri, name)] = (
                {k: str(v) for k, v in (tags or {}).items()},
                description,
            )
            return RegisteredModel(
                name, None, None, description, {k: str(v) for k, v in (tags or {}).items()}
            )
        raise AlreadyExists(f"registered model {name!r} already exists")

    def get_registered_model(self, name: str) -> RegisteredModel:
        return to_registered_model(self._registry.get_registered_model(name))

    def search_registered_models(
        self, filter_string: str | None = None, max_results: int = 100
    ) -> list[RegisteredModel]:
        found = self._registry.search_registered_models(filter_string or None, max_results=max_results)
        return [to_registered_model(m) for m in found]

    def create_model_version(
        self,
        name: str,
        source: str,
        run_id: str | None = None,
        tags: Mapping[str, Any] | None = None,
        run_link: str | None = None,
        description: str | None = None,
        **unsupported: Any,
    ) -> ModelVersion:
        """Register ``source`` (``runs:/RUN_ID/PATH``, e.g. ``run.info.artifact_uri + "/model"``)."""
        if unsupported:
            raise Unsupported(
                f"create_model_version({', '.join(unsupported)}=)", "lw.register_model(uri, name)"
            )
        target = parse_run_uri(source)
        if run_id is not None and target.run_id != run_id:
            raise Unsupported("create_model_version(source not in run_id)", "source='runs:/RUN_ID/path'")
        version = self._registry.register_model(str(target), name, tags=tags, description=description)
        pending = _pending.pop((self._client.store.uri, name), None)
        if pending is not None:
            pending_tags, pending_description = pending
            for key, value in pending_tags.items():
                self._registry.set_registered_model_tag(name, key, value)
            if pending_description is not None:
                self._registry.update_registered_model(name, pending_description)
        return to_model_version(version)

    def get_model_version(self, name: str, version: str | int) -> ModelVersion:
        return to_model_version(self._registry.get_model_version(name, version))

    def update_model_version(
        self, name: str, version: str | int, description: str | None = None
    ) -> ModelVersion:
        return to_model_version(self._registry.update_model_version(name, version, description))

    def set_model_version_tag(self, name: str, version: str | int, key: str, value: Any) -> None:
        self._registry.set_model_version_tag(name, version, key, value)

    def set_registered_model_tag(self, name: str, key: str, value: Any) -> None:
        self._registry.set_registered_model_tag(name, key, value)

    def set_registered_model_alias(self, name: str, alias: str, version: str | int) -> None:
        self._registry.set_alias(name, alias, version)

    def delete_registered_model_alias(self, name: str, alias: str) -> None:
        self._registry.delete_alias(name, alias)

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        return to_model_version(self._registry.get_model_version_by_alias(name, alias))

    def search_model_versions(
        self,
        filter_string: str | None = None,
        max_results: int = 10_000,
        order_by: Sequence[str] | None = None,
    ) -> list[ModelVersion]:
        found = self._registry.search_model_versions(
            filter_string or None, list(order_by or []) or None, max_results
        )
        return [to_model_version(v) for v in found]

    def get_latest_versions(self, name: str, stages: Sequence[str] | None = None) -> list[ModelVersion]:
        raise Unsupported(
            "get_latest_versions (stages)", "aliases: get_model_version_by_alias(name, 'champion')"
        )

    def transition_model_version_stage(
        self, name: str, version: str | int, stage: str, **_: Any
    ) -> ModelVersion:
        raise Unsupported(
            "transition_model_version_stage", "set_registered_model_alias(name, alias, version)"
        )


def register_model(
    model_uri: str, name: str, tags: Mapping[str, Any] | None = None, **unsupported: Any
) -> ModelVersion:
    """``mlflow.register_model``: the next version of ``name`` from ``runs:/RUN_ID/PATH``.

    >>> register_model("models:/x/1", "y")
    Traceback (most recent call last):
    ...
    loopwright.errors.InvalidInput: invalid run URI 'models:/x/1': use runs:/RUN_ID/PATH, e.g. runs:/RUN_ID/model
    """
    if unsupported:
        raise Unsupported(f"register_model({', '.join(unsupported)}=)", "lw.register_model(uri, name, tags=)")
    parse_run_uri(model_uri)  # a bad URI fails before any store is opened
    return MlflowClient().create_model_version(name, model_uri, tags=tags)
