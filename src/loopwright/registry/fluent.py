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

    Examples
    --------
    >>> import loopwright as lw, tempfile, os
    >>> os.environ["LOOPWRIGHT_HOME"] = tempfile.mkdtemp()
    >>> with lw.start_run() as run:
    ...     _ = lw.log_dict({"flavor": "demo"}, "model/manifest.json")  # stands in for lw.log_model
    >>> mv = lw.register_model(f"runs:/{run.id}/model", "churn", tags={"team": "risk"})
    >>> mv.uri, mv.version, mv.tags
    ('models:/churn/1', 1, {'team': 'risk'})
    >>> lw.register_model(f"runs:/{run.id}/model", "churn").version  # the next version
    2
    >>> del os.environ["LOOPWRIGHT_HOME"]; lw.reset_clients()
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
    """A registered model with its tags, aliases and latest version number.

    Examples
    --------
    >>> import loopwright as lw, tempfile, os
    >>> os.environ["LOOPWRIGHT_HOME"] = tempfile.mkdtemp()
    >>> with lw.start_run() as run:
    ...     _ = lw.log_dict({"flavor": "demo"}, "model/manifest.json")  # stands in for lw.log_model
    >>> mv = lw.register_model(f"runs:/{run.id}/model", "churn")
    >>> _ = lw.set_alias("churn", "champion", 1)
    >>> model = lw.get_registered_model("churn")
    >>> model.latest_version, model.aliases
    (1, {'champion': 1})
    >>> del os.environ["LOOPWRIGHT_HOME"]; lw.reset_clients()
    """
    return _registry().get_registered_model(name)


def search_registered_models(
    filter: str | None = None, order_by: Sequence[str] | str | None = None, max_results: int = 1000
) -> list[RegisteredModel]:
    """Registered models, e.g. ``filter="name LIKE 'churn%' and tags.team = 'risk'"``.

    Examples
    --------
    >>> import loopwright as lw, tempfile, os
    >>> os.environ["LOOPWRIGHT_HOME"] = tempfile.mkdtemp()
    >>> with lw.start_run() as run:
    ...     _ = lw.log_dict({"flavor": "demo"}, "model/manifest.json")  # stands in for lw.log_model
    >>> mv = lw.register_model(f"runs:/{run.id}/model", "churn")
    >>> lw.set_registered_model_tag("churn", "team", "risk")
    >>> [m.name for m in lw.search_registered_models("name LIKE 'ch%' and tags.team = 'risk'")]
    ['churn']
    >>> del os.environ["LOOPWRIGHT_HOME"]; lw.reset_clients()
    """
    return _registry().search_registered_models(filter, order_by, max_results)


def update_registered_model(name: str, description: str | None) -> RegisteredModel:
    """Change a registered model's description (audited).

    Examples
    --------
    >>> import loopwright as lw, tempfile, os
    >>> os.environ["LOOPWRIGHT_HOME"] = tempfile.mkdtemp()
    >>> with lw.start_run() as run:
    ...     _ = lw.log_dict({"flavor": "demo"}, "model/manifest.json")  # stands in for lw.log_model
    >>> mv = lw.register_model(f"runs:/{run.id}/model", "churn")
    >>> lw.update_registered_model("churn", "predicts who leaves next month").description
    'predicts who leaves next month'
    >>> del os.environ["LOOPWRIGHT_HOME"]; lw.reset_clients()
    """
    return _registry().update_registered_model(name, description)


def set_registered_model_tag(name: str, key: str, value: Any) -> None:
    """Set a tag on a registered model (audited).

    Examples
    --------
    >>> import loopwright as lw, tempfile, os
    >>> os.environ["LOOPWRIGHT_HOME"] = tempfile.mkdtemp()
    >>> with lw.start_run() as run:
    ...     _ = lw.log_dict({"flavor": "demo"}, "model/manifest.json")  # stands in for lw.log_model
    >>> mv = lw.register_model(f"runs:/{run.id}/model", "churn")
    >>> lw.set_registered_model_tag("churn", "team", "risk")
    >>> lw.get_registered_model("churn").tags
    {'team': 'risk'}
    >>> del os.environ["LOOPWRIGHT_HOME"]; lw.reset_clients()
    """
    _registry().set_registered_model_tag(name, key, value)


def delete_registered_model_tag(name: str, key: str) -> None:
    """Remove a tag from a registered model (audited).

    Examples
    --------
    >>> import loopwright as lw, tempfile, os
    >>> os.environ["LOOPWRIGHT_HOME"] = tempfile.mkdtemp()
    >>> with lw.start_run() as run:
    ...     _ = lw.log_dict({"flavor": "demo"}, "model/manifest.json")  # stands in for lw.log_model
    >>> mv = lw.register_model(f"runs:/{run.id}/model", "churn")
    >>> lw.set_registered_model_tag("churn", "team", "risk")
    >>> lw.delete_registered_model_tag("churn", "team")
    >>> lw.get_registered_model("churn").tags
    {}
    >>> del os.environ["LOOPWRIGHT_HOME"]; lw.reset_clients()
    """
    _registry().delete_registered_model_tag(name, key)


def get_model_version(name: str, version: int | str) -> ModelVersion:
    """One version by number.

    Examples
    --------
    >>> import loopwright as lw, tempfile, os
    >>> os.environ["LOOPWRIGHT_HOME"] = tempfile.mkdtemp()
    >>> with lw.start_run() as run:
    ...     _ = lw.log_dict({"flavor": "demo"}, "model/manifest.json")  # stands in for lw.log_model
    >>> mv = lw.register_model(f"runs:/{run.id}/model", "churn")
    >>> found = lw.get_model_version("churn", 1)
    >>> found.run_id == run.id, found.status
    (True, 'ready')
    >>> del os.environ["LOOPWRIGHT_HOME"]; lw.reset_clients()
    """
    return _registry().get_model_version(name, version)


def get_model_version_by_alias(name: str, alias: str) -> ModelVersion:
    """The version an alias (``champion``) points to now.

    Examples
    --------
    >>> import loopwright as lw, tempfile, os
    >>> os.environ["LOOPWRIGHT_HOME"] = tempfile.mkdtemp()
    >>> with lw.start_run() as run:
    ...     _ = lw.log_dict({"flavor": "demo"}, "model/manifest.json")  # stands in for lw.log_model
    >>> mv = lw.register_model(f"runs:/{run.id}/model", "churn")
    >>> _ = lw.set_alias("churn", "champion", 1)
    >>> lw.get_model_version_by_alias("churn", "champion").version
    1
    >>> del os.environ["LOOPWRIGHT_HOME"]; lw.reset_clients()
    """
    return _registry().get_model_version_by_alias(name, alias)


def search_model_versions(
    filter: str | None = None, order_by: Sequence[str] | str | None = None, max_results: int = 1000
) -> list[ModelVersion]:
    """Versions matching a filter over ``name``, ``version``, ``run_id``, ``status``, ``alias``, ``tags.KEY``.

    Examples: ``"name = 'churn'"``, ``"name = 'churn' and alias = 'champion'"``,
    ``"version >= 2 and tags.team = 'risk'"``. Newest version first within each model.

    Examples
    --------
    >>> import loopwright as lw, tempfile, os
    >>> os.environ["LOOPWRIGHT_HOME"] = tempfile.mkdtemp()
    >>> with lw.start_run() as run:
    ...     _ = lw.log_dict({"flavor": "demo"}, "model/manifest.json")  # stands in for lw.log_model
    >>> mv = lw.register_model(f"runs:/{run.id}/model", "churn")
    >>> lw.set_model_version_tag("churn", 1, "validated", "yes")
    >>> [v.uri for v in lw.search_model_versions("name = 'churn' and tags.validated = 'yes'")]
    ['models:/churn/1']
    >>> del os.environ["LOOPWRIGHT_HOME"]; lw.reset_clients()
    """
    return _registry().search_model_versions(filter, order_by, max_results)


def update_model_version(name: str, version: int | str, description: str | None = None) -> ModelVersion:
    """Change a version's description; source and manifest digest are immutable.

    Examples
    --------
    >>> import loopwright as lw, tempfile, os
    >>> os.environ["LOOPWRIGHT_HOME"] = tempfile.mkdtemp()
    >>> with lw.start_run() as run:
    ...     _ = lw.log_dict({"flavor": "demo"}, "model/manifest.json")  # stands in for lw.log_model
    >>> mv = lw.register_model(f"runs:/{run.id}/model", "churn")
    >>> lw.update_model_version("churn", 1, "first baseline").description
    'first baseline'
    >>> del os.environ["LOOPWRIGHT_HOME"]; lw.reset_clients()
    """
    return _registry().update_model_version(name, version, description)


def set_model_version_tag(name: str, version: int | str, key: str, value: Any) -> None:
    """Set a tag on a version (audited).

    Examples
    --------
    >>> import loopwright as lw, tempfile, os
    >>> os.environ["LOOPWRIGHT_HOME"] = tempfile.mkdtemp()
    >>> with lw.start_run() as run:
    ...     _ = lw.log_dict({"flavor": "demo"}, "model/manifest.json")  # stands in for lw.log_model
    >>> mv = lw.register_model(f"runs:/{run.id}/model", "churn")
    >>> lw.set_model_version_tag("churn", 1, "validated", "yes")
    >>> lw.get_model_version("churn", 1).tags
    {'validated': 'yes'}
    >>> del os.environ["LOOPWRIGHT_HOME"]; lw.reset_clients()
    """
    _registry().set_model_version_tag(name, version, key, value)


def delete_model_version_tag(name: str, version: int | str, key: str) -> None:
    """Remove a tag from a version (audited).

    Examples
    --------
    >>> import loopwright as lw, tempfile, os
    >>> os.environ["LOOPWRIGHT_HOME"] = tempfile.mkdtemp()
    >>> with lw.start_run() as run:
    ...     _ = lw.log_dict({"flavor": "demo"}, "model/manifest.json")  # stands in for lw.log_model
    >>> mv = lw.register_model(f"runs:/{run.id}/model", "churn")
    >>> lw.set_model_version_tag("churn", 1, "validated", "yes")
    >>> lw.delete_model_version_tag("churn", 1, "validated")
    >>> lw.get_model_version("churn", 1).tags
    {}
    >>> del os.environ["LOOPWRIGHT_HOME"]; lw.reset_clients()
    """
    _registry().delete_model_version_tag(name, version, key)


def archive_model_version(name: str, version: int | str) -> ModelVersion:
    """Archive a version: it keeps its files but can no longer be given an alias.

    Examples
    --------
    >>> import loopwright as lw, tempfile, os
    >>> os.environ["LOOPWRIGHT_HOME"] = tempfile.mkdtemp()
    >>> with lw.start_run() as run:
    ...     _ = lw.log_dict({"flavor": "demo"}, "model/manifest.json")  # stands in for lw.log_model
    >>> mv = lw.register_model(f"runs:/{run.id}/model", "churn")
    >>> lw.archive_model_version("churn", 1).status
    'archived'
    >>> try:
    ...     lw.set_alias("churn", "champion", 1)
    ... except lw.LoopwrightError as error:
    ...     type(error).__name__
    'Conflict'
    >>> del os.environ["LOOPWRIGHT_HOME"]; lw.reset_clients()
    """
    return _registry().archive_model_version(name, version)


def restore_model_version(name: str, version: int | str) -> ModelVersion:
    """Bring an archived version back to ``ready``.

    Examples
    --------
    >>> import loopwright as lw, tempfile, os
    >>> os.environ["LOOPWRIGHT_HOME"] = tempfile.mkdtemp()
    >>> with lw.start_run() as run:
    ...     _ = lw.log_dict({"flavor": "demo"}, "model/manifest.json")  # stands in for lw.log_model
    >>> mv = lw.register_model(f"runs:/{run.id}/model", "churn")
    >>> _ = lw.archive_model_version("churn", 1)
    >>> lw.restore_model_version("churn", 1).status
    'ready'
    >>> del os.environ["LOOPWRIGHT_HOME"]; lw.reset_clients()
    """
    return _registry().restore_model_version(name, version)


def convert_to_onnx(model_uri: str) -> ModelInfo:
    """Store an ONNX conversion of a scikit-learn package (parity-checked on its input example).

    For ``models:/NAME/VERSION`` or ``models:/NAME@ALIAS`` the version adopts the converted
    package, so serving it prefers the ONNX path; the change is in the audit log.
    """
    return _registry().convert_to_onnx(model_uri)


def set_alias(name: str, alias: str, version: int | str) -> ModelVersion:
    """Point ``alias`` at ``version``, creating or moving it atomically (audited).

    Examples
    --------
    >>> import loopwright as lw, tempfile, os
    >>> os.environ["LOOPWRIGHT_HOME"] = tempfile.mkdtemp()
    >>> with lw.start_run() as run:
    ...     _ = lw.log_dict({"flavor": "demo"}, "model/manifest.json")  # stands in for lw.log_model
    >>> mv = lw.register_model(f"runs:/{run.id}/model", "churn")
    >>> mv2 = lw.register_model(f"runs:/{run.id}/model", "churn")
    >>> lw.set_alias("churn", "champion", 1).aliases
    ['champion']
    >>> lw.set_alias("churn", "champion", 2).version  # moved, in one transaction
    2
    >>> del os.environ["LOOPWRIGHT_HOME"]; lw.reset_clients()
    """
    return _registry().set_alias(name, alias, version)


def delete_alias(name: str, alias: str) -> None:
    """Remove an alias (audited).

    Examples
    --------
    >>> import loopwright as lw, tempfile, os
    >>> os.environ["LOOPWRIGHT_HOME"] = tempfile.mkdtemp()
    >>> with lw.start_run() as run:
    ...     _ = lw.log_dict({"flavor": "demo"}, "model/manifest.json")  # stands in for lw.log_model
    >>> mv = lw.register_model(f"runs:/{run.id}/model", "churn")
    >>> _ = lw.set_alias("churn", "challenger", 1)
    >>> lw.delete_alias("churn", "challenger")
    >>> lw.get_model_version("churn", 1).aliases
    []
    >>> del os.environ["LOOPWRIGHT_HOME"]; lw.reset_clients()
    """
    _registry().delete_alias(name, alias)


def list_audit_log(
    name: str, version: int | None = None, action: str | None = None, max_results: int | None = None
) -> list[AuditEntry]:
    """Every recorded change to a registered model, its versions and aliases, oldest first.

    Examples
    --------
    >>> import loopwright as lw, tempfile, os
    >>> os.environ["LOOPWRIGHT_HOME"] = tempfile.mkdtemp()
    >>> with lw.start_run() as run:
    ...     _ = lw.log_dict({"flavor": "demo"}, "model/manifest.json")  # stands in for lw.log_model
    >>> mv = lw.register_model(f"runs:/{run.id}/model", "churn")
    >>> os.environ["LOOPWRIGHT_USER"] = "ada"
    >>> _ = lw.set_alias("churn", "champion", 1)
    >>> [(e.action, e.actor) for e in lw.list_audit_log("churn")][-1]
    ('alias_set', 'ada')
    >>> del os.environ["LOOPWRIGHT_USER"]
    >>> del os.environ["LOOPWRIGHT_HOME"]; lw.reset_clients()
    """
    return _registry().list_audit_log(name, version, action, max_results)


def get_lineage(model_uri: str) -> Lineage:
    """Trace ``models:/NAME/VERSION`` or ``models:/NAME@ALIAS`` to its run, datasets, params, metrics and code.

    Examples
    --------
    >>> import loopwright as lw, tempfile, os
    >>> os.environ["LOOPWRIGHT_HOME"] = tempfile.mkdtemp()
    >>> with lw.start_run() as run:
    ...     _ = lw.log_dict({"flavor": "demo"}, "model/manifest.json")  # stands in for lw.log_model
    >>> mv = lw.register_model(f"runs:/{run.id}/model", "churn")
    >>> lineage = lw.get_lineage("models:/churn/1")
    >>> lineage.run_id == run.id, lineage.model_version.version
    (True, 1)
    >>> del os.environ["LOOPWRIGHT_HOME"]; lw.reset_clients()
    """
    return _registry().get_lineage(model_uri)
