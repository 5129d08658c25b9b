"""The module-level registry API (``lw.register_model``, ``lw.set_alias`` …) on the default client.

Examples
--------
>>> import loopwright as lw, tempfile, os
>>> os.environ["LOOPWRIGHT_HOME"] = tempfile.mkdtemp()
>>> with lw.start_run() as run:
...     _ = lw.log_dict({"flavor": "demo"}, "model/manifest.json")
>>> mv = lw.register_model(f"runs:/{run.id}/model", "churn", tags={"team": "risk"})
>>> lw.set_alias("churn", "champion", mv.version).aliases
['champion']
>>> lw.get_model_version_by_alias("churn", "champion").version
1
>>> del os.environ["LOOPWRIGHT_HOME"]; lw.reset_clients()
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from loopwright.frames import is_spark_dataframe, to_pandas
from loopwright.models.package import ModelInfo
from loopwright.registry.client import RegistryClient
from loopwright.registry.lineage import Lineage
from loopwright.store.entities import AuditEntry, ModelVersion, RegisteredModel


def _registry() -> RegistryClient:
    return RegistryClient()


def register_model(
    model_uri: str,
    name: str,
    tags: Mapping[str, Any] | None = None,
    description: str | None = None,
    reference_data: Any = None,
) -> ModelVersion:
    """Register the package at ``runs:/RUN_ID/PATH`` as the next version (1, 2, …) of ``name``.

    Parameters
    ----------
    model_uri:
        Where ``lw.log_model`` put the package, e.g. ``runs:/RUN_ID/model``.
    name:
        The registered model; created on its first version.
    tags, description:
        Set on the new version.
    reference_data:
        Training features (without the target): profiled and stored as the version's reference
        profile, with the version's predictions on them, for ``lw.drift`` and live monitoring.
        A pandas, polars or pyarrow table, a ``.parquet``/``.csv`` path, a list of records, a dict
        of columns (see :func:`loopwright.frames.to_pandas`) or a Spark DataFrame.
        The same as calling ``lw.profile(mv.uri, reference_data)`` afterwards.

    Returns
    -------
    ModelVersion
        Immutable: its source and manifest digest never change.
    """
    if reference_data is not None and not is_spark_dataframe(reference_data):
        # converted (or refused) before anything is registered; a Spark frame is profiled on Spark
        reference_data = to_pandas(reference_data, what="reference_data")
    mv = _registry().register_model(model_uri, name, tags=tags, description=description)
    if reference_data is not None:
        from loopwright.monitoring.reference import profile  # monitoring builds on the registry

        profile(mv.uri, data=reference_data)
    return mv


def get_registered_model(name: str) -> RegisteredModel:
    """A registered model with its tags, aliases and latest version number."""
    return _registry().get_registered_model(name)


def search_registered_models(
    filter: str | None = None, order_by: Sequence[str] | str | None = None, max_results: int = 1000
) -> list[RegisteredModel]:
    """Registered models, e.g. ``filter="name LIKE 'churn%' and tags.team = 'risk'"``."""
    return _registry().search_registered_models(filter, order_by, max_results)


def update_registered_model(name: str, description: str | None) -> RegisteredModel:
    """Change a registered model's description (audited)."""
    return _registry().update_registered_model(name, description)


def set_registered_model_tag(name: str, key: str, value: Any) -> None:
    """Set a tag on a registered model (audited)."""
    _registry().set_registered_model_tag(name, key, value)


def delete_registered_model_tag(name: str, key: str) -> None:
    """Remove a tag from a registered model (audited)."""
    _registry().delete_registered_model_tag(name, key)


def get_model_version(name: str, version: int | str) -> ModelVersion:
    """One version by number."""
    return _registry().get_model_version(name, version)


def get_model_version_by_alias(name: str, alias: str) -> ModelVersion:
    """The version an alias (``champion``) points to now."""
    return _registry().get_model_version_by_alias(name, alias)


def search_model_versions(
    filter: str | None = None, order_by: Sequence[str] | str | None = None, max_results: int = 1000
) -> list[ModelVersion]:
    """Versions matching a filter over ``name``, ``version``, ``run_id``, ``status``, ``alias``, ``tags.KEY``.

    Examples: ``"name = 'churn'"``, ``"name = 'churn' and alias = 'champion'"``,
    ``"version >= 2 and tags.team = 'risk'"``. Newest version first within each model.
    """
    return _registry().search_model_versions(filter, order_by, max_results)


def update_model_version(name: str, version: int | str, description: str | None = None) -> ModelVersion:
    """Change a version's description; source and manifest digest are immutable."""
    return _registry().update_model_version(name, version, description)


def set_model_version_tag(name: str, version: int | str, key: str, value: Any) -> None:
    """Set a tag on a version (audited)."""
    _registry().set_model_version_tag(name, version, key, value)


def delete_model_version_tag(name: str, version: int | str, key: str) -> None:
    """Remove a tag from a version (audited)."""
    _registry().delete_model_version_tag(name, version, key)


def archive_model_version(name: str, version: int | str) -> ModelVersion:
    """Archive a version: it keeps its files but can no longer be given an alias."""
    return _registry().archive_model_version(name, version)


def restore_model_version(name: str, version: int | str) -> ModelVersion:
    """Bring an archived version back to ``ready``."""
    return _registry().restore_model_version(name, version)


def convert_to_onnx(model_uri: str) -> ModelInfo:
    """Store an ONNX conversion of a scikit-learn package (parity-checked on its input example).

    For ``models:/NAME/VERSION`` or ``models:/NAME@ALIAS`` the version adopts the converted
    package, so serving it prefers the ONNX path; the change is in the audit log.
    """
    return _registry().convert_to_onnx(model_uri)


def set_alias(name: str, alias: str, version: int | str) -> ModelVersion:
    """Point ``alias`` at ``version``, creating or moving it atomically (audited)."""
    return _registry().set_alias(name, alias, version)


def delete_alias(name: str, alias: str) -> None:
    """Remove an alias (audited)."""
    _registry().delete_alias(name, alias)


def list_audit_log(
    name: str, version: int | None = None, action: str | None = None, max_results: int | None = None
) -> list[AuditEntry]:
    """Every recorded change to a registered model, its versions and aliases, oldest first."""
    return _registry().list_audit_log(name, version, action, max_results)


def get_lineage(model_uri: str) -> Lineage:
    """Trace ``models:/NAME/VERSION`` or ``models:/NAME@ALIAS`` to its run, datasets, params, metrics and code."""
    return _registry().get_lineage(model_uri)
