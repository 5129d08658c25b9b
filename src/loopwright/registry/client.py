"""``RegistryClient``: registered models, versions, aliases, audit log and lineage over one store.

The module-level functions (``lw.register_model``, ``lw.set_alias`` …) use the default
tracking client of the environment; build a ``RegistryClient(client)`` to be explicit.
Every change is made in the store's own transaction together with its audit entry, with
the actor from ``LOOPWRIGHT_USER`` (else the operating-system user).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

from loopwright.errors import InvalidInput, NotFound
from loopwright.models.package import ModelInfo
from loopwright.names import validate_name, validate_version
from loopwright.registry.actor import current_actor
from loopwright.registry.lineage import Lineage, lineage_of
from loopwright.registry.signatures import warn_unsigned
from loopwright.store import mask_password
from loopwright.store.entities import AuditEntry, ModelVersion, RegisteredModel
from loopwright.tracking.client import Client, get_client
from loopwright.uris import parse_registered_uri, parse_run_uri

MANIFEST = "manifest.json"


class RegistryClient:
    """Registry operations against a tracking :class:`~loopwright.tracking.Client`'s store and blobs.

    Parameters
    ----------
    client:
        Defaults to the environment's shared client (``lw.get_client()``).
    actor:
        Who the audit log names; defaults to ``LOOPWRIGHT_USER``, else the OS user, at each call.

    Examples
    --------
    >>> import tempfile
    >>> home = tempfile.mkdtemp()
    >>> tracking = Client(f"sqlite:///{home}/lw.db", f"{home}/artifacts")
    >>> run = tracking.create_run("demo")
    >>> _ = tracking.log_dict(run.id, {"flavor": "demo"}, "model/manifest.json")
    >>> registry = RegistryClient(tracking, actor="ada")
    >>> mv = registry.register_model(f"runs:/{run.id}/model", "churn")
    >>> mv.version, registry.set_alias("churn", "champion", 1).aliases
    (1, ['champion'])
    >>> [e.action for e in registry.list_audit_log("churn")]
    ['register', 'alias_set']
    >>> tracking.close()
    """

    def __init__(self, client: Client | None = None, actor: str | None = None):
        self.client = client if client is not None else get_client()
        self.store = self.client.store
        self.blobs = self.client.blobs
        self._actor = actor

    def __repr__(self) -> str:
        return f"RegistryClient(store={mask_password(self.store.uri)!r})"

    @property
    def actor(self) -> str:
        return self._actor or current_actor()

    # -- registration --------------------------------------------------------------------------
    def register_model(
        self,
        model_uri: str,
        name: str,
        tags: Mapping[str, Any] | None = None,
        description: str | None = None,
    ) -> ModelVersion:
        """Register the model package at ``runs:/RUN_ID/PATH`` as the next version of ``name``.

        The package's files are recorded for the version too (so ``gc`` keeps them after
        the run is deleted), its manifest digest is stored on the version, and a lineage
        edge run → model version is added. A package without a signature is registered with an
        :class:`~loopwright.errors.UnsignedModelWarning` (and a WARNING log line).
        """
        validate_name(name, "model name")
        if not isinstance(model_uri, str):
            raise InvalidInput(
                f"register_model needs a model URI such as runs:/RUN_ID/model, got a {type(model_uri).__name__}: "
                "log the model first (lw.log_model), or for a pipeline step's model pass "
                'result.model_uri("STEP")'
            )
        target = parse_run_uri(model_uri)
        self.client.flush()
        assert target.run_id is not None and target.path is not None
        run = self.store.get_run(target.run_id)
        manifest_path = f"{target.path}/{MANIFEST}"
        try:
            manifest = self.store.get_artifact("run", run.id, manifest_path)
        except NotFound:
            raise NotFound(
                f"run {run.id!r} has no model at {target.path!r} (no {manifest_path}); "
                f"log one with lw.log_model(model, {target.path!r})"
            ) from None
        version = self.store.create_model_version(
            name,
            str(target),
            actor=self.actor,
            run_id=run.id,
            manifest_digest=manifest.digest,
            artifact_prefix=target.path,
            tags=_tag_map(tags),
            description=description,
        )
        if not (self.get_manifest(version) or {}).get("signature"):
            warn_unsigned(version.uri, "registering")
        return version

    # -- registered models ---------------------------------------------------------------------
    def get_registered_model(self, name: str) -> RegisteredModel:
        return self.store.get_registered_model(_model_name(name))

    def search_registered_models(
        self,
        filter: str | None = None,
        order_by: Sequence[str] | str | None = None,
        max_results: int = 1000,
    ) -> list[RegisteredModel]:
        return self.store.search_registered_models(filter, _orders(order_by), max_results)

    def update_registered_model(self, name: str, description: str | None) -> RegisteredModel:
        return self.store.update_registered_model(_model_name(name), description, actor=self.actor)

    def set_registered_model_tag(self, name: str, key: str, value: Any) -> None:
        self.store.set_registered_model_tag(_model_name(name), key, _tag_value(key, value), actor=self.actor)

    def delete_registered_model_tag(self, name: str, key: str) -> None:
        self.store.delete_registered_model_tag(_model_name(name), key, actor=self.actor)

    # -- versions ------------------------------------------------------------------------------
    def get_model_version(self, name: str, version: int | str) -> ModelVersion:
        return self.store.get_model_version(_model_name(name), validate_version(version))

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        return self.store.get_model_version_by_alias(_model_name(name), alias)

    def resolve(self, model_uri: str) -> ModelVersion:
        """The version a ``models:/NAME/VERSION`` or ``models:/NAME@ALIAS`` URI names."""
        uri = parse_registered_uri(model_uri)
        assert uri.name is not None
        if uri.alias is not None:
            return self.get_model_version_by_alias(uri.name, uri.alias)
        assert uri.version is not None
        return self.get_model_version(uri.name, uri.version)

    def search_model_versions(
        self,
        filter: str | None = None,
        order_by: Sequence[str] | str | None = None,
        max_results: int = 1000,
    ) -> list[ModelVersion]:
        return self.store.search_model_versions(filter, _orders(order_by), max_results)

    def update_model_version(self, name: str, version: int | str, description: str | None) -> ModelVersion:
        return self.store.update_model_version(
            _model_name(name), validate_version(version), description, actor=self.actor
        )

    def set_model_version_tag(self, name: str, version: int | str, key: str, value: Any) -> None:
        self.store.set_model_version_tag(
            _model_name(name), validate_version(version), key, _tag_value(key, value), actor=self.actor
        )

    def delete_model_version_tag(self, name: str, version: int | str, key: str) -> None:
        self.store.delete_model_version_tag(
            _model_name(name), validate_version(version), key, actor=self.actor
        )

    def archive_model_version(self, name: str, version: int | str) -> ModelVersion:
        return self.store.set_model_version_status(
            _model_name(name), validate_version(version), "archived", actor=self.actor
        )

    def restore_model_version(self, name: str, version: int | str) -> ModelVersion:
        return self.store.set_model_version_status(
            _model_name(name), validate_version(version), "ready", actor=self.actor
        )

    def get_manifest(self, version: ModelVersion) -> dict[str, Any] | None:
        """The version's package manifest (digest-verified), or ``None`` if it has none or it is gone."""
        if version.manifest_digest is None:
            return None
        try:
            data = json.loads(self.blobs.get_bytes(version.manifest_digest))
        except NotFound:
            return None
        return data if isinstance(data, dict) else None

    # -- packages ------------------------------------------------------------------------------
    def convert_to_onnx(self, model_uri: str) -> ModelInfo:
        """Add an ONNX conversion to a package; a registered version adopts it (audited).

        The version keeps naming the same model: its manifest moves to the derived package
        (same files plus ``onnx/model.onnx``), which serving then prefers.
        """
        from loopwright.models import convert_to_onnx
        from loopwright.models.package import PACKAGE_OWNER

        if not model_uri.startswith("models:/"):
            return convert_to_onnx(model_uri, self.client)
        mv = self.resolve(model_uri)
        if mv.manifest_digest is None:
            raise InvalidInput(f"{model_uri} has no model package to convert")
        info = convert_to_onnx(f"models:/{mv.name}/{mv.version}", self.client)
        if info.manifest_digest != mv.manifest_digest:
            files = self.store.list_artifacts(PACKAGE_OWNER, info.manifest_digest)
            self.store.adopt_derived_package(
                mv.name,
                mv.version,
                info.manifest_digest,
                derived_from=mv.manifest_digest,
                files=files,
                actor=self.actor,
            )
        return info

    # -- aliases -------------------------------------------------------------------------------
    def set_alias(self, name: str, alias: str, version: int | str) -> ModelVersion:
        return self.store.set_alias(_model_name(name), alias, validate_version(version), actor=self.actor)

    def delete_alias(self, name: str, alias: str) -> None:
        self.store.delete_alias(_model_name(name), alias, actor=self.actor)

    # -- audit and lineage ---------------------------------------------------------------------
    def list_audit_log(
        self,
        name: str,
        version: int | None = None,
        action: str | None = None,
        max_results: int | None = None,
    ) -> list[AuditEntry]:
        return self.store.list_audit_log(_model_name(name), version, action, max_results)

    def get_lineage(self, model_uri: str) -> Lineage:
        """Trace ``models:/NAME/VERSION`` or ``models:/NAME@ALIAS`` back to its run, data and code."""
        self.client.flush()
        return lineage_of(self.store, self.resolve(model_uri))


def _model_name(name: object) -> str:
    """A registered model name from the caller, checked before it reaches the store."""
    return validate_name(name, "model name")


def uses_pickle(manifest: Mapping[str, Any] | None) -> bool:
    """Whether a package manifest says it needs pickle (``allow_pickle`` set anywhere in it)."""
    if not manifest:
        return False
    stack: list[Any] = [manifest]
    while stack:
        item = stack.pop()
        if isinstance(item, Mapping):
            if item.get("allow_pickle") is True:
                return True
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def _orders(order_by: Sequence[str] | str | None) -> list[str] | None:
    if order_by is None:
        return None
    return [order_by] if isinstance(order_by, str) else list(order_by)


def _tag_value(key: str, value: Any) -> str:
    if value is None:
        raise InvalidInput(f"tag {key!r} has no value (None)")
    if isinstance(value, float) and math.isnan(value):
        return "nan"
    return value if isinstance(value, str) else str(value)


def _tag_map(tags: Mapping[str, Any] | None) -> dict[str, str]:
    if not tags:
        return {}
    if not isinstance(tags, Mapping):
        raise InvalidInput(f"tags must be a mapping of key to value, got {type(tags).__name__}")
    return {key: _tag_value(key, value) for key, value in tags.items()}
