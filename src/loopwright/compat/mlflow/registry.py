"""MLflow's model registry endpoints translated onto Loopwright's registry (the server's SqlStore).

A Loopwright registered model exists from its first version: ``registered-models/create`` answers
for a new name (MLflow's ``register_model`` calls it first) but records nothing until
``model-versions/create``; tags or a description given to it are refused (set them once the first
version exists) rather than dropped. A version whose ``source`` is one of its run's artifact folders
(``runs:/RUN_ID/model``, ``mlflow-artifacts:/runs/RUN_ID/model``) gets those files copied into its own
namespace, so ``get-download-uri`` names ``mlflow-artifacts:/models/NAME/versions/V`` and the model
outlives the run. Stages are gone in Loopwright: ``Archived`` and ``None`` map to the version's
status, the others are refused (use aliases).

Examples
--------
>>> import tempfile
>>> from fastapi import FastAPI
>>> from starlette.testclient import TestClient
>>> from loopwright.server.security import Guard
>>> from loopwright.store.sql import SqlStore
>>> store = SqlStore(f"sqlite:///{tempfile.mkdtemp()}/lw.db")
>>> app = FastAPI()
>>> app.include_router(registry_router(store, Guard(store, enabled=False)))
>>> http = TestClient(app)
>>> http.post("/api/2.0/mlflow/model-versions/create", json={"name": "churn", "source": "s3://b/m"}).json()[
...     "model_version"]["version"]
'1'
>>> http.get("/api/2.0/mlflow/registered-models/get", params={"name": "nope"}).json()["error_code"]
'RESOURCE_DOES_NOT_EXIST'
"""

from __future__ import annotations

import re

from fastapi import Request

from loopwright.errors import AlreadyExists, InvalidInput, NotFound
from loopwright.names import validate_name
from loopwright.server.security import Guard
from loopwright.store.entities import ModelVersion, ModelVersionStatus, now_ms
from loopwright.store.routes import ROUTES
from loopwright.store.sql import SqlStore

from .logged_models import logged_model_folder
from .protocol import (
    Body,
    Handler,
    MlflowRouter,
    add_endpoint,
    int_field,
    list_field,
    not_implemented,
    str_field,
)
from .translate import (
    ARTIFACT_SCHEME,
    logged_model_id,
    model_version_json,
    registered_model_json,
    source_prefix,
    tag_dict,
)

_MAX_PAGE = 10_000
# MLflow 3 clients add this clause to every registry search to hide prompts; Loopwright keeps no
# prompts in its registry, so the clause is dropped rather than failing on models without the tag
_NOT_PROMPT = re.compile(r"^tags?\.[`\"]?mlflow\.prompt\.is_prompt[`\"]?\s*!=\s*'true'$", re.IGNORECASE)


def registry_filter(text: object) -> str | None:
    """An MLflow registry filter without the client's "not a prompt" clause.

    >>> registry_filter("name = 'churn' AND tag.`mlflow.prompt.is_prompt` != 'true'")
    "name = 'churn'"
    >>> registry_filter("tag.`mlflow.prompt.is_prompt` != 'true'") is None
    True
    """
    if not text:
        return None
    clauses = re.split(r"\s+and\s+", str(text).strip(), flags=re.IGNORECASE)
    return " AND ".join(c for c in clauses if not _NOT_PROMPT.match(c.strip())) or None


def registry_router(store: SqlStore, guard: Guard) -> MlflowRouter:
    """The registered-model and model-version endpoints over ``store``, roles checked by ``guard``."""
    router = MlflowRouter()

    def allow(request: Request, method: str) -> str:
        return guard.check(request, ROUTES[method].role, f"mlflow {method}").user

    def version_of(fields: Body) -> tuple[str, int]:
        version = int_field(fields, "version", 0)
        if version < 1:
            raise InvalidInput("parameter 'version' must be a positive integer")
        return str_field(fields, "name"), version

    def latest(name: str, number: int) -> ModelVersion | None:
        return store.get_model_version(name, number) if number else None

    def model_json(name: str) -> Body:
        model = store.get_registered_model(name)
        return registered_model_json(model, latest(model.name, model.latest_version))

    # -- registered models ---------------------------------------------------------------------
    def create_registered_model(request: Request, fields: Body) -> Body:
        allow(request, "create_model_version")
        name = validate_name(str_field(fields, "name"), "model name")
        try:
            store.get_registered_model(name)
        except NotFound:
            if fields.get("tags") or fields.get("description"):
                raise InvalidInput(
                    "a Loopwright registered model is created with its first version: create the version "
                    "first, then set the model's tags or description"
                ) from None
            stamp = now_ms()
            return {
                "registered_model": {
                    "name": name,
                    "creation_timestamp": stamp,
                    "last_updated_timestamp": stamp,
                }
            }
        raise AlreadyExists(f"Registered Model (name={name}) already exists.")

    def get_registered_model(request: Request, fields: Body) -> Body:
        allow(request, "get_registered_model")
        return {"registered_model": model_json(str_field(fields, "name"))}

    def search_registered_models(request: Request, fields: Body) -> Body:
        allow(request, "search_registered_models")
        max_results = max(1, min(int_field(fields, "max_results", 100), _MAX_PAGE))
        offset = int_field(fields, "page_token", 0)
        models = store.search_registered_models(
            registry_filter(fields.get("filter")),
            list_field(fields, "order_by") or None,
            offset + max_results + 1,
        )
        page = models[offset : offset + max_results]
        body: Body = {
            "registered_models": [registered_model_json(m, latest(m.name, m.latest_version)) for m in page]
        }
        if len(models) > offset + max_results:
            body["next_page_token"] = str(offset + max_results)
        return body

    def update_registered_model(request: Request, fields: Body) -> Body:
        actor = allow(request, "update_registered_model")
        name = str_field(fields, "name")
        store.update_registered_model(name, str_field(fields, "description", required=False), actor=actor)
        return {"registered_model": model_json(name)}

    def set_registered_model_tag(request: Request, fields: Body) -> Body:
        actor = allow(request, "set_registered_model_tag")
        name, key = str_field(fields, "name"), str_field(fields, "key")
        store.set_registered_model_tag(name, key, str_field(fields, "value", required=False), actor=actor)
        return {}

    def delete_registered_model_tag(request: Request, fields: Body) -> Body:
        actor = allow(request, "delete_registered_model_tag")
        store.delete_registered_model_tag(str_field(fields, "name"), str_field(fields, "key"), actor=actor)
        return {}

    def get_latest_versions(request: Request, fields: Body) -> Body:
        allow(request, "get_registered_model")
        model = store.get_registered_model(str_field(fields, "name"))
        stages = {stage.lower() for stage in list_field(fields, "stages")}
        found = latest(model.name, model.latest_version)
        keep = found is not None and (
            not stages or model_version_json(found)["current_stage"].lower() in stages
        )
        return {"model_versions": [model_version_json(found)] if keep and found else []}

    # -- model versions ------------------------------------------------------------------------
    def create_model_version(request: Request, fields: Body) -> Body:
        actor = allow(request, "create_model_version")
        source = str_field(fields, "source")
        run_id = str_field(fields, "run_id", required=False) or None
        model_id = str_field(fields, "model_id", required=False) or logged_model_id(source)
        prefix: str | None
        if model_id:  # MLflow 3: a logged model's files are a folder of its run
            run_id, prefix = logged_model_folder(store, model_id)
        else:
            prefix = source_prefix(source, run_id)
            if run_id is None and prefix is not None:
                run_id = source.split("runs/" if "runs/" in source else "runs:/", 1)[1].split("/", 1)[0]
        version = store.create_model_version(
            validate_name(str_field(fields, "name"), "model name"),
            source,
            actor=actor,
            run_id=run_id,
            artifact_prefix=prefix,
            tags=tag_dict(fields.get("tags")),
            description=str_field(fields, "description", required=False) or None,
        )
        return {"model_version": model_version_json(version)}

    def get_model_version(request: Request, fields: Body) -> Body:
        allow(request, "get_model_version")
        return {"model_version": model_version_json(store.get_model_version(*version_of(fields)))}

    def search_model_versions(request: Request, fields: Body) -> Body:
        allow(request, "search_model_versions")
        max_results = max(1, min(int_field(fields, "max_results", 10_000), _MAX_PAGE))
        offset = int_field(fields, "page_token", 0)
        versions = store.search_model_versions(
            registry_filter(fields.get("filter")),
            list_field(fields, "order_by") or None,
            offset + max_results + 1,
        )
        body: Body = {
            "model_versions": [model_version_json(v) for v in versions[offset : offset + max_results]]
        }
        if len(versions) > offset + max_results:
            body["next_page_token"] = str(offset + max_results)
        return body

    def update_model_version(request: Request, fields: Body) -> Body:
        actor = allow(request, "update_model_version")
        name, number = version_of(fields)
        description = str_field(fields, "description", required=False)
        return {
            "model_version": model_version_json(
                store.update_model_version(name, number, description, actor=actor)
            )
        }

    def set_model_version_tag(request: Request, fields: Body) -> Body:
        actor = allow(request, "set_model_version_tag")
        name, number = version_of(fields)
        value = str_field(fields, "value", required=False)
        store.set_model_version_tag(name, number, str_field(fields, "key"), value, actor=actor)
        return {}

    def delete_model_version_tag(request: Request, fields: Body) -> Body:
        actor = allow(request, "delete_model_version_tag")
        name, number = version_of(fields)
        store.delete_model_version_tag(name, number, str_field(fields, "key"), actor=actor)
        return {}

    def transition_stage(request: Request, fields: Body) -> Body:
        actor = allow(request, "set_model_version_status")
        name, number = version_of(fields)
        stage = str_field(fields, "stage").lower()
        if stage not in ("archived", "none"):
            raise not_implemented(
                "model-versions/transition-stage",
                f"stage {stage!r} has no Loopwright equivalent; use aliases",
            )
        status: ModelVersionStatus = "archived" if stage == "archived" else "ready"
        return {
            "model_version": model_version_json(
                store.set_model_version_status(name, number, status, actor=actor)
            )
        }

    def get_download_uri(request: Request, fields: Body) -> Body:
        allow(request, "get_model_version")
        name, number = version_of(fields)
        version = store.get_model_version(name, number)
        if store.list_artifacts("model_version", f"{name}/{number}"):
            return {"artifact_uri": f"{ARTIFACT_SCHEME}/models/{name}/versions/{number}"}
        return {"artifact_uri": version.source}

    # -- aliases -------------------------------------------------------------------------------
    def set_alias(request: Request, fields: Body) -> Body:
        actor = allow(request, "set_alias")
        name, number = version_of(fields)
        store.set_alias(name, str_field(fields, "alias"), number, actor=actor)
        return {}

    def delete_alias(request: Request, fields: Body) -> Body:
        actor = allow(request, "delete_alias")
        store.delete_alias(str_field(fields, "name"), str_field(fields, "alias"), actor=actor)
        return {}

    def get_by_alias(request: Request, fields: Body) -> Body:
        allow(request, "get_model_version_by_alias")
        found = store.get_model_version_by_alias(str_field(fields, "name"), str_field(fields, "alias"))
        return {"model_version": model_version_json(found)}

    def refuse(endpoint: str, instead: str) -> Handler:
        def handler(request: Request, fields: Body) -> Body:
            allow(request, "get_registered_model")
            raise not_implemented(endpoint, instead)

        return handler

    for method, path, handler in (
        ("POST", "/registered-models/create", create_registered_model),
        ("GET", "/registered-models/get", get_registered_model),
        ("GET", "/registered-models/search", search_registered_models),
        ("PATCH", "/registered-models/update", update_registered_model),
        ("POST", "/registered-models/set-tag", set_registered_model_tag),
        ("DELETE", "/registered-models/delete-tag", delete_registered_model_tag),
        ("POST", "/registered-models/get-latest-versions", get_latest_versions),
        ("GET", "/registered-models/get-latest-versions", get_latest_versions),
        ("POST", "/model-versions/create", create_model_version),
        ("GET", "/model-versions/get", get_model_version),
        ("GET", "/model-versions/search", search_model_versions),
        ("PATCH", "/model-versions/update", update_model_version),
        ("POST", "/model-versions/set-tag", set_model_version_tag),
        ("DELETE", "/model-versions/delete-tag", delete_model_version_tag),
        ("POST", "/model-versions/transition-stage", transition_stage),
        ("GET", "/model-versions/get-download-uri", get_download_uri),
        ("POST", "/registered-models/alias", set_alias),
        ("DELETE", "/registered-models/alias", delete_alias),
        ("GET", "/registered-models/alias", get_by_alias),
    ):
        add_endpoint(router, method, path, handler)
    for method, path, instead in (
        ("DELETE", "/registered-models/delete", "Loopwright keeps registry history; archive the versions"),
        ("POST", "/registered-models/rename", "Loopwright model names are permanent"),
        ("DELETE", "/model-versions/delete", "Loopwright keeps registry history; archive the version"),
    ):
        add_endpoint(router, method, path, refuse(f"{method} {path}", instead))
    return router
