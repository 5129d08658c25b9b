"""Registered models, versions, tags, aliases and the audit log in SQL.

Every mutation of a model (or of one of its versions or aliases) runs in one write
transaction that first locks the model's ``registered_models`` row (``SELECT … FOR UPDATE``
on PostgreSQL; SQLite's ``BEGIN IMMEDIATE`` already serialises writers), then changes the
rows and appends its audit entry. Two processes moving one alias therefore queue: both
succeed, one after the other, and the audit log shows both moves in order.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from loopwright.errors import Conflict, InvalidInput, NotFound
from loopwright.names import (
    validate_alias,
    validate_artifact_path,
    validate_key,
    validate_name,
    validate_version,
)
from loopwright.store.entities import (
    ArtifactRef,
    AuditEntry,
    ModelKind,
    ModelVersion,
    ModelVersionStatus,
    RegisteredModel,
    ms_to_datetime,
    now_ms,
)
from loopwright.store.search import MODEL_VERSIONS, REGISTERED_MODELS, Clause, parse_filter, parse_order_by
from loopwright.store.sql.base import SqlBase
from loopwright.store.sql.filters import condition
from loopwright.store.sql.query import SearchEntity, check_max_results, search_query
from loopwright.store.sql.tables import (
    artifacts,
    audit_log,
    lineage_edges,
    model_aliases,
    model_version_tags,
    model_versions,
    registered_model_tags,
    registered_models,
    runs,
)

AUDIT_ENTITIES = ("registered_model", "model_version", "alias")
MODEL_VERSION_STATUSES: tuple[ModelVersionStatus, ...] = ("ready", "archived")
MAX_TAG_LENGTH = 65536
AUDIT_LOCK_KEY = 7158311  # pg_advisory_xact_lock key ordering audit appends (the migration lock is 7158310)
_CHUNK = 250  # (name, version) pairs per IN list, well under SQLite's bound-parameter cap


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, sort_keys=True, default=str)


def _tag_value(key: str, value: str) -> str:
    validate_key(key, "tag key")
    if not isinstance(value, str):
        raise InvalidInput(f"tag {key!r} must be a string, got {type(value).__name__}")
    if len(value) > MAX_TAG_LENGTH:
        raise InvalidInput(f"tag {key!r} is longer than {MAX_TAG_LENGTH} characters")
    return value


def _description(description: object) -> str | None:
    if description is not None and not isinstance(description, str):
        raise InvalidInput(f"description must be a string, got {type(description).__name__}")
    return description


class RegistrySql(SqlBase):
    """Registry half of :class:`~loopwright.store.sql.SqlStore`."""

    # -- helpers -------------------------------------------------------------------------------
    def _lock_model(self, conn: Connection, name: str) -> Any:
        """The model's row, locked until the transaction ends (a no-op clause on SQLite)."""
        row = conn.execute(
            sa.select(registered_models).where(registered_models.c.name == name).with_for_update()
        ).first()
        if row is None:
            raise NotFound(f"registered model {name!r} not found")
        return row

    def _stamp(self, conn: Connection) -> int:
        """The time of this transaction's changes, read once its locks are held, so that times follow
        version numbers and audit ids. Audit ids come from one sequence for every model: on PostgreSQL
        a transaction-scoped advisory lock also orders stamping and appending across models (SQLite's
        ``BEGIN IMMEDIATE`` admits one writer at a time already). Taken after the model's row lock."""
        if not self._is_sqlite:
            conn.execute(sa.select(sa.func.pg_advisory_xact_lock(AUDIT_LOCK_KEY)))
        return now_ms()

    def _version_row(self, conn: Connection, name: str, version: int) -> Any:
        row = conn.execute(
            sa.select(model_versions).where(
                model_versions.c.name == name, model_versions.c.version == version
            )
        ).first()
        if row is None:
            if conn.execute(
                sa.select(registered_models.c.name).where(registered_models.c.name == name)
            ).first():
                raise NotFound(f"registered model {name!r} has no version {version}")
            raise NotFound(f"registered model {name!r} not found")
        return row

    def _touch(self, conn: Connection, name: str, version: int | None, stamp: int) -> None:
        conn.execute(
            registered_models.update().where(registered_models.c.name == name).values(updated_ms=stamp)
        )
        if version is not None:
            conn.execute(
                model_versions.update()
                .where(model_versions.c.name == name, model_versions.c.version == version)
                .values(updated_ms=stamp)
            )

    def _audit(
        self,
        conn: Connection,
        entity: str,
        name: str,
        version: int | None,
        action: str,
        actor: str,
        before: Any,
        after: Any,
        stamp: int | None = None,
    ) -> AuditEntry:
        if entity not in AUDIT_ENTITIES:
            raise InvalidInput(f"audit entity must be one of {', '.join(AUDIT_ENTITIES)}, got {entity!r}")
        if not isinstance(action, str) or not 0 < len(action) <= 32:
            raise InvalidInput(f"audit action must be a string of 1-32 characters, got {action!r}")
        if not isinstance(actor, str) or not actor:
            raise InvalidInput("every registry change needs an actor (who made it)")
        stamp = self._stamp(conn) if stamp is None else stamp
        result = conn.execute(
            audit_log.insert().values(
                entity=entity,
                name=name,
                version=version,
                action=action,
                actor=actor[:256],
                time_ms=stamp,
                before_json=_json(before),
                after_json=_json(after),
            )
        )
        return AuditEntry(
            id=int(result.inserted_primary_key[0]),  # type: ignore[index]
            entity=entity,
            name=name,
            version=version,
            action=action,
            actor=actor[:256],
            time=ms_to_datetime(stamp),  # type: ignore[arg-type]
            before=json.loads(_json(before) or "null"),
            after=json.loads(_json(after) or "null"),
        )

    # -- registration --------------------------------------------------------------------------
    def create_model_version(
        self,
        name: str,
        source: str,
        *,
        actor: str,
        run_id: str | None = None,
        manifest_digest: str | None = None,
        artifact_prefix: str | None = None,
        tags: Mapping[str, str] | None = None,
        description: str | None = None,
        kind: ModelKind = "model",
    ) -> ModelVersion:
        validate_name(name, "model name")
        _kind(kind)
        if not isinstance(source, str) or not source:
            raise InvalidInput("a model version needs a source URI")
        tags = {k: _tag_value(k, v) for k, v in (tags or {}).items()}
        _description(description)
        prefix = validate_artifact_path(artifact_prefix.strip("/")) if artifact_prefix else None
        with self._write() as conn:
            if run_id is not None:
                lifecycle = conn.execute(sa.select(runs.c.lifecycle).where(runs.c.id == run_id)).scalar()
                if lifecycle is None:
                    raise NotFound(f"run {run_id!r} not found")
                if lifecycle != "active":
                    raise Conflict(f"run {run_id!r} is deleted; restore it before registering its model")
            first_use = now_ms()
            conn.execute(
                self._insert(registered_models)
                .values(name=name, last_version=0, created_ms=first_use, updated_ms=first_use, kind=kind)
                .on_conflict_do_nothing(index_elements=["name"])
            )
            locked = self._lock_model(conn, name)
            if locked.kind != kind:
                raise Conflict(f"{name!r} is a registered {locked.kind}, not a {kind}: choose another name")
            version = locked.last_version + 1
            stamp = self._stamp(conn)
            conn.execute(
                registered_models.update()
                .where(registered_models.c.name == name)
                .values(last_version=version, updated_ms=stamp)
            )
            conn.execute(
                model_versions.insert().values(
                    name=name,
                    version=version,
                    run_id=run_id,
                    source=source,
                    manifest_digest=manifest_digest,
                    status="ready",
                    description=description,
                    created_ms=stamp,
                    created_by=actor[:256],
                    updated_ms=stamp,
                )
            )
            if tags:
                conn.execute(
                    model_version_tags.insert(),
                    [{"name": name, "version": version, "key": k, "value": v} for k, v in tags.items()],
                )
            owner_id = f"{name}/{version}"
            if run_id is not None and prefix is not None:
                copied = self._copy_run_artifacts(conn, run_id, prefix, owner_id, stamp)
                if copied == 0:
                    raise NotFound(f"run {run_id!r} has no artifacts under {prefix!r}")
            if run_id is not None:
                conn.execute(
                    self._insert(lineage_edges)
                    .values(
                        src_type="run",
                        src_id=run_id,
                        dst_type="model_version",
                        dst_id=owner_id,
                        relation="produced",
                        created_ms=stamp,
                    )
                    .on_conflict_do_nothing()
                )
            after = {
                "source": source,
                "run_id": run_id,
                "manifest_digest": manifest_digest,
                "status": "ready",
                "description": description,
                "tags": tags,
            }
            self._audit(conn, "model_version", name, version, "register", actor, None, after, stamp)
            return self._versions(conn, [self._version_row(conn, name, version)])[0]

    def _copy_run_artifacts(
        self, conn: Connection, run_id: str, prefix: str, owner_id: str, stamp: int
    ) -> int:
        rows = conn.execute(
            sa.select(artifacts.c.path, artifacts.c.digest, artifacts.c.size).where(
                artifacts.c.owner_type == "run",
                artifacts.c.owner_id == run_id,
                (artifacts.c.path == prefix) | artifacts.c.path.startswith(prefix + "/", autoescape=True),
            )
        ).all()
        copies = [
            {
                "owner_type": "model_version",
                "owner_id": owner_id,
                # the version's namespace is the package itself: model/manifest.json -> manifest.json
                "path": path[len(prefix) + 1 :] if path != prefix else path.rsplit("/", 1)[-1],
                "digest": digest,
                "size": size,
                "created_ms": stamp,
            }
            for path, digest, size in rows
        ]
        if copies:
            conn.execute(artifacts.insert(), copies)
        return len(copies)

    # -- registered models ---------------------------------------------------------------------
    def get_registered_model(self, name: str) -> RegisteredModel:
        with self._read() as conn:
            row = conn.execute(sa.select(registered_models).where(registered_models.c.name == name)).first()
            if row is None:
                raise NotFound(f"registered model {name!r} not found")
            return self._models(conn, [row])[0]

    def search_registered_models(
        self,
        filter: str | None = None,
        order_by: Sequence[str] | None = None,
        max_results: int = 1000,
        kind: ModelKind = "model",
    ) -> list[RegisteredModel]:
        clauses = parse_filter(filter, REGISTERED_MODELS)
        orders = parse_order_by(order_by, REGISTERED_MODELS)
        base = sa.select(registered_models).where(registered_models.c.kind == _kind(kind))
        query = search_query(MODEL_SEARCH, base, clauses, orders, max_results)
        with self._read() as conn:
            return self._models(conn, conn.execute(query).all())

    def _models(self, conn: Connection, rows: Sequence[Any]) -> list[RegisteredModel]:
        names = [row.name for row in rows]
        tags: dict[str, dict[str, str]] = defaultdict(dict)
        aliases: dict[str, dict[str, int]] = defaultdict(dict)
        for start in range(0, len(names), _CHUNK):
            chunk = names[start : start + _CHUNK]
            for name, key, value in conn.execute(
                sa.select(
                    registered_model_tags.c.name, registered_model_tags.c.key, registered_model_tags.c.value
                )
                .where(registered_model_tags.c.name.in_(chunk))
                .order_by(registered_model_tags.c.key)
            ):
                tags[name][key] = value
            for name, alias, version in conn.execute(
                sa.select(model_aliases.c.name, model_aliases.c.alias, model_aliases.c.version)
                .where(model_aliases.c.name.in_(chunk))
                .order_by(model_aliases.c.alias)
            ):
                aliases[name][alias] = version
        return [
            RegisteredModel(
                name=row.name,
                description=row.description,
                tags=tags.get(row.name, {}),
                created_at=ms_to_datetime(row.created_ms),
                updated_at=ms_to_datetime(row.updated_ms),
                latest_version=row.last_version,
                aliases=aliases.get(row.name, {}),
                kind=row.kind,
            )
            for row in rows
        ]

    def update_registered_model(self, name: str, description: str | None, *, actor: str) -> RegisteredModel:
        _description(description)
        with self._write() as conn:
            row = self._lock_model(conn, name)
            if row.description != description:
                stamp = self._stamp(conn)
                conn.execute(
                    registered_models.update()
                    .where(registered_models.c.name == name)
                    .values(description=description, updated_ms=stamp)
                )
                self._audit(
                    conn,
                    "registered_model",
                    name,
                    None,
                    "description_set",
                    actor,
                    {"description": row.description},
                    {"description": description},
                    stamp,
                )
        return self.get_registered_model(name)

    def set_registered_model_tag(self, name: str, key: str, value: str, *, actor: str) -> None:
        _tag_value(key, value)
        with self._write() as conn:
            self._lock_model(conn, name)
            old = conn.execute(
                sa.select(registered_model_tags.c.value).where(
                    registered_model_tags.c.name == name, registered_model_tags.c.key == key
                )
            ).scalar()
            if old == value:
                return
            stmt = self._insert(registered_model_tags).values(name=name, key=key, value=value)
            conn.execute(stmt.on_conflict_do_update(index_elements=["name", "key"], set_={"value": value}))
            stamp = self._stamp(conn)
            self._touch(conn, name, None, stamp)
            before = None if old is None else {"key": key, "value": old}
            after = {"key": key, "value": value}
            self._audit(conn, "registered_model", name, None, "tag_set", actor, before, after, stamp)

    def delete_registered_model_tag(self, name: str, key: str, *, actor: str) -> None:
        with self._write() as conn:
            self._lock_model(conn, name)
            where = (registered_model_tags.c.name == name) & (registered_model_tags.c.key == key)
            old = conn.execute(sa.select(registered_model_tags.c.value).where(where)).scalar()
            if old is None:
                raise NotFound(f"registered model {name!r} has no tag {key!r}")
            conn.execute(registered_model_tags.delete().where(where))
            stamp = self._stamp(conn)
            self._touch(conn, name, None, stamp)
            before = {"key": key, "value": old}
            self._audit(conn, "registered_model", name, None, "tag_deleted", actor, before, None, stamp)

    # -- versions ------------------------------------------------------------------------------
    def get_model_version(self, name: str, version: int) -> ModelVersion:
        number = validate_version(version)
        with self._read() as conn:
            return self._versions(conn, [self._version_row(conn, name, number)])[0]

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        with self._read() as conn:
            number = conn.execute(
                sa.select(model_aliases.c.version).where(
                    model_aliases.c.name == name, model_aliases.c.alias == alias
                )
            ).scalar()
            if number is None:
                if conn.execute(
                    sa.select(registered_models.c.name).where(registered_models.c.name == name)
                ).first():
                    raise NotFound(f"registered model {name!r} has no alias {alias!r}")
                raise NotFound(f"registered model {name!r} not found")
            return self._versions(conn, [self._version_row(conn, name, number)])[0]

    def search_model_versions(
        self,
        filter: str | None = None,
        order_by: Sequence[str] | None = None,
        max_results: int = 1000,
        kind: ModelKind = "model",
    ) -> list[ModelVersion]:
        clauses = parse_filter(filter, MODEL_VERSIONS)
        orders = parse_order_by(order_by, MODEL_VERSIONS)
        of_kind = sa.select(registered_models.c.name).where(registered_models.c.kind == _kind(kind))
        base = sa.select(model_versions).where(model_versions.c.name.in_(of_kind))
        query = search_query(VERSION_SEARCH, base, clauses, orders, max_results)
        with self._read() as conn:
            return self._versions(conn, conn.execute(query).all())

    def _versions(self, conn: Connection, rows: Sequence[Any]) -> list[ModelVersion]:
        keys = [(row.name, row.version) for row in rows]
        tags: dict[tuple[str, int], dict[str, str]] = defaultdict(dict)
        aliases: dict[tuple[str, int], list[str]] = defaultdict(list)
        for start in range(0, len(keys), _CHUNK):
            chunk = keys[start : start + _CHUNK]
            t = model_version_tags
            for name, version, key, value in conn.execute(
                sa.select(t.c.name, t.c.version, t.c.key, t.c.value)
                .where(sa.tuple_(t.c.name, t.c.version).in_(chunk))
                .order_by(t.c.key)
            ):
                tags[(name, version)][key] = value
            a = model_aliases
            for name, version, alias in conn.execute(
                sa.select(a.c.name, a.c.version, a.c.alias)
                .where(sa.tuple_(a.c.name, a.c.version).in_(chunk))
                .order_by(a.c.alias)
            ):
                aliases[(name, version)].append(alias)
        return [
            ModelVersion(
                name=row.name,
                version=row.version,
                run_id=row.run_id,
                source=row.source,
                manifest_digest=row.manifest_digest,
                status=row.status,
                description=row.description,
                tags=tags.get((row.name, row.version), {}),
                aliases=aliases.get((row.name, row.version), []),
                created_at=ms_to_datetime(row.created_ms),
                created_by=row.created_by,
                updated_at=ms_to_datetime(row.updated_ms),
            )
            for row in rows
        ]

    def update_model_version(
        self, name: str, version: int, description: str | None, *, actor: str
    ) -> ModelVersion:
        number = validate_version(version)
        _description(description)
        with self._write() as conn:
            self._lock_model(conn, name)
            row = self._version_row(conn, name, number)
            if row.description != description:
                stamp = self._stamp(conn)
                conn.execute(
                    model_versions.update()
                    .where(model_versions.c.name == name, model_versions.c.version == number)
                    .values(description=description)
                )
                self._touch(conn, name, number, stamp)
                before, after = {"description": row.description}, {"description": description}
                self._audit(
                    conn, "model_version", name, number, "description_set", actor, before, after, stamp
                )
            return self._versions(conn, [self._version_row(conn, name, number)])[0]

    def set_model_version_tag(self, name: str, version: int, key: str, value: str, *, actor: str) -> None:
        number = validate_version(version)
        _tag_value(key, value)
        t = model_version_tags
        with self._write() as conn:
            self._lock_model(conn, name)
            self._version_row(conn, name, number)
            where = (t.c.name == name) & (t.c.version == number) & (t.c.key == key)
            old = conn.execute(sa.select(t.c.value).where(where)).scalar()
            if old == value:
                return
            stmt = self._insert(t).values(name=name, version=number, key=key, value=value)
            conn.execute(
                stmt.on_conflict_do_update(index_elements=["name", "version", "key"], set_={"value": value})
            )
            stamp = self._stamp(conn)
            self._touch(conn, name, number, stamp)
            before = None if old is None else {"key": key, "value": old}
            self._audit(
                conn,
                "model_version",
                name,
                number,
                "tag_set",
                actor,
                before,
                {"key": key, "value": value},
                stamp,
            )

    def delete_model_version_tag(self, name: str, version: int, key: str, *, actor: str) -> None:
        number = validate_version(version)
        t = model_version_tags
        with self._write() as conn:
            self._lock_model(conn, name)
            self._version_row(conn, name, number)
            where = (t.c.name == name) & (t.c.version == number) & (t.c.key == key)
            old = conn.execute(sa.select(t.c.value).where(where)).scalar()
            if old is None:
                raise NotFound(f"version {number} of model {name!r} has no tag {key!r}")
            conn.execute(t.delete().where(where))
            stamp = self._stamp(conn)
            self._touch(conn, name, number, stamp)
            before = {"key": key, "value": old}
            self._audit(conn, "model_version", name, number, "tag_deleted", actor, before, None, stamp)

    def set_model_version_status(
        self, name: str, version: int, status: ModelVersionStatus, *, actor: str
    ) -> ModelVersion:
        number = validate_version(version)
        if status not in MODEL_VERSION_STATUSES:
            raise InvalidInput(
                f"model version status must be one of {', '.join(MODEL_VERSION_STATUSES)}, got {status!r}"
            )
        with self._write() as conn:
            self._lock_model(conn, name)
            row = self._version_row(conn, name, number)
            if row.status != status:
                if status == "archived":
                    held = [
                        r[0]
                        for r in conn.execute(
                            sa.select(model_aliases.c.alias)
                            .where(model_aliases.c.name == name, model_aliases.c.version == number)
                            .order_by(model_aliases.c.alias)
                        )
                    ]
                    if held:
                        raise Conflict(
                            f"version {number} of model {name!r} holds alias {', '.join(map(repr, held))}; "
                            "move or delete the alias before archiving it"
                        )
                stamp = self._stamp(conn)
                conn.execute(
                    model_versions.update()
                    .where(model_versions.c.name == name, model_versions.c.version == number)
                    .values(status=status)
                )
                self._touch(conn, name, number, stamp)
                action = "archived" if status == "archived" else "restored"
                before, after = {"status": row.status}, {"status": status}
                self._audit(conn, "model_version", name, number, action, actor, before, after, stamp)
            return self._versions(conn, [self._version_row(conn, name, number)])[0]

    # -- aliases -------------------------------------------------------------------------------
    def adopt_derived_package(
        self,
        name: str,
        version: int,
        manifest_digest: str,
        *,
        derived_from: str,
        files: Sequence[ArtifactRef],
        actor: str,
    ) -> ModelVersion:
        number = validate_version(version)
        with self._write() as conn:
            self._lock_model(conn, name)
            row = self._version_row(conn, name, number)
            if row.manifest_digest == manifest_digest:
                return self._versions(conn, [row])[0]
            if row.manifest_digest != derived_from:
                raise Conflict(
                    f"version {number} of {name!r} is package {row.manifest_digest[:12]}, "
                    f"not {derived_from[:12]} the new package was derived from"
                )
            stamp = self._stamp(conn)
            conn.execute(
                model_versions.update()
                .where(model_versions.c.name == name, model_versions.c.version == number)
                .values(manifest_digest=manifest_digest, updated_ms=stamp)
            )
            stmt = self._insert(artifacts)
            conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=["owner_type", "owner_id", "path"],
                    set_={"digest": stmt.excluded.digest, "size": stmt.excluded.size},
                ),
                [
                    {
                        "owner_type": "model_version",
                        "owner_id": f"{name}/{number}",
                        "path": f.path,
                        "digest": f.digest,
                        "size": f.size,
                        "created_ms": stamp,
                    }
                    for f in files
                ],
            )
            self._touch(conn, name, number, stamp)
            self._audit(
                conn,
                "model_version",
                name,
                number,
                "package_derived",
                actor,
                {"manifest_digest": row.manifest_digest},
                {"manifest_digest": manifest_digest},
                stamp,
            )
            return self._versions(conn, [self._version_row(conn, name, number)])[0]

    def set_alias(self, name: str, alias: str, version: int, *, actor: str) -> ModelVersion:
        validate_alias(alias)
        number = validate_version(version)
        with self._write() as conn:
            self._lock_model(conn, name)
            row = self._version_row(conn, name, number)
            if row.status == "archived":
                raise Conflict(
                    f"version {number} of model {name!r} is archived; "
                    f"restore it before giving it alias {alias!r}"
                )
            where = (model_aliases.c.name == name) & (model_aliases.c.alias == alias)
            current = conn.execute(sa.select(model_aliases.c.version).where(where)).scalar()
            if current != number:
                stamp = self._stamp(conn)
                if current is None:
                    conn.execute(
                        model_aliases.insert().values(
                            name=name, alias=alias, version=number, updated_ms=stamp
                        )
                    )
                    action, before = "alias_set", None
                else:
                    conn.execute(model_aliases.update().where(where).values(version=number, updated_ms=stamp))
                    action, before = "alias_moved", {"alias": alias, "version": current}
                self._touch(conn, name, None, stamp)
                after = {"alias": alias, "version": number}
                self._audit(conn, "alias", name, number, action, actor, before, after, stamp)
            return self._versions(conn, [self._version_row(conn, name, number)])[0]

    def delete_alias(self, name: str, alias: str, *, actor: str) -> None:
        with self._write() as conn:
            self._lock_model(conn, name)
            where = (model_aliases.c.name == name) & (model_aliases.c.alias == alias)
            current = conn.execute(sa.select(model_aliases.c.version).where(where)).scalar()
            if current is None:
                raise NotFound(f"registered model {name!r} has no alias {alias!r}")
            conn.execute(model_aliases.delete().where(where))
            stamp = self._stamp(conn)
            self._touch(conn, name, None, stamp)
            before = {"alias": alias, "version": current}
            self._audit(conn, "alias", name, current, "alias_deleted", actor, before, None, stamp)

    # -- audit ---------------------------------------------------------------------------------
    def append_audit(
        self,
        entity: str,
        name: str,
        action: str,
        *,
        actor: str,
        version: int | None = None,
        before: Any = None,
        after: Any = None,
    ) -> AuditEntry:
        number = None if version is None else validate_version(version)
        with self._write() as conn:
            self._lock_model(conn, name)
            if number is not None:
                self._version_row(conn, name, number)
            return self._audit(conn, entity, name, number, action, actor, before, after)

    def list_audit_log(
        self,
        name: str,
        version: int | None = None,
        action: str | None = None,
        max_results: int | None = None,
    ) -> list[AuditEntry]:
        query = sa.select(audit_log).where(audit_log.c.name == name)
        if version is not None:
            query = query.where(audit_log.c.version == validate_version(version))
        if action is not None:
            query = query.where(audit_log.c.action == action)
        query = query.order_by(audit_log.c.id)
        if max_results is not None:
            query = query.limit(check_max_results(max_results))
        with self._read() as conn:
            rows = conn.execute(query).all()
            if (
                not rows
                and conn.execute(
                    sa.select(registered_models.c.name).where(registered_models.c.name == name)
                ).first()
                is None
            ):
                raise NotFound(f"registered model {name!r} not found")
        return [
            AuditEntry(
                id=row.id,
                entity=row.entity,
                name=row.name,
                version=row.version,
                action=row.action,
                actor=row.actor,
                time=ms_to_datetime(row.time_ms),  # type: ignore[arg-type]
                before=None if row.before_json is None else json.loads(row.before_json),
                after=None if row.after_json is None else json.loads(row.after_json),
            )
            for row in rows
        ]


def _alias_condition(clause: Clause) -> Any:
    """``alias = 'champion'`` holds when some alias of the version matches; ``!=`` when none does."""
    a = model_aliases
    positive = {"!=": "=", "NOT IN": "IN"}.get(clause.op, clause.op)
    held = (
        sa.select(a.c.alias)
        .where(a.c.name == model_versions.c.name, a.c.version == model_versions.c.version)
        .where(condition(a.c.alias, Clause(clause.kind, clause.key, positive, clause.value)))
    )
    return ~held.exists() if positive != clause.op else held.exists()


def _kind(kind: object) -> ModelKind:
    if kind not in ("model", "prompt"):
        raise InvalidInput(f"kind must be 'model' or 'prompt', got {kind!r}")
    return kind


MODEL_SEARCH = SearchEntity(
    table=registered_models,
    columns={
        "name": registered_models.c.name,
        "created_time": registered_models.c.created_ms,
        "updated_time": registered_models.c.updated_ms,
        "latest_version": registered_models.c.last_version,
    },
    joins={
        "tag": (
            registered_model_tags,
            lambda tag, key: (tag.c.name == registered_models.c.name) & (tag.c.key == key),
        )
    },
    tiebreak=(registered_models.c.name,),
    noun="registered models",
)
VERSION_SEARCH = SearchEntity(
    table=model_versions,
    columns={
        "name": model_versions.c.name,
        "version": model_versions.c.version,
        "run_id": model_versions.c.run_id,
        "status": model_versions.c.status,
        "source": model_versions.c.source,
        "created_by": model_versions.c.created_by,
        "created_time": model_versions.c.created_ms,
    },
    joins={
        "tag": (
            model_version_tags,
            lambda tag, key: (
                (tag.c.name == model_versions.c.name)
                & (tag.c.version == model_versions.c.version)
                & (tag.c.key == key)
            ),
        )
    },
    tiebreak=(model_versions.c.name, model_versions.c.version.desc()),
    conditions={"alias": _alias_condition},
    noun="model versions",
)

__all__ = ["AUDIT_ENTITIES", "RegistrySql"]
