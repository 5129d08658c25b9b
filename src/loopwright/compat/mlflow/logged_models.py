"""MLflow 3's logged models (``mlflow.<flavor>.log_model``), kept with the run that logged them.

Loopwright has no separate logged-model entity: a model is files in a run. So the ``K``-th model an
MLflow client logs in run ``R`` gets the id ``m-R-K``, its files land as the run's artifacts under its
name (``artifact_uri`` = ``mlflow-artifacts:/runs/R/NAME``, MLflow 2's layout, so ``runs:/R/NAME``
and ``lw.load_model``-style readers find them) and its record — name, type, status, tags, params —
is the run's system tag ``loopwright.mlflow.model.K`` (JSON); ``loopwright.mlflow.models`` counts
them. A model logged outside a run gets a run of its own (named after the model). The run's
``runs/log-inputs`` datasets become Loopwright dataset inputs.

Examples
--------
>>> model_ref("m-0123456789abcdef0123456789abcdef-2")
('0123456789abcdef0123456789abcdef', 2)
>>> model_ref("m-nope")
Traceback (most recent call last):
...
loopwright.errors.NotFound: logged model 'm-nope' not found
"""

from __future__ import annotations

import json
import re
from typing import Any

from fastapi import Request

from loopwright.errors import InvalidInput, NotFound
from loopwright.server.security import Guard
from loopwright.store.entities import SYSTEM_TAG_PREFIX, DatasetInput, Run, now_ms
from loopwright.store.routes import ROUTES
from loopwright.store.sql import SqlStore

from .protocol import Body, MlflowRouter, add_endpoint, int_field, list_field, not_implemented, str_field
from .translate import DEFAULT_EXPERIMENT_ID, DEFAULT_EXPERIMENT_NAME, run_artifact_uri, tag_dict, tag_list

COUNT_TAG = f"{SYSTEM_TAG_PREFIX}mlflow.models"
_RECORD_TAG = f"{SYSTEM_TAG_PREFIX}mlflow.model."
_ID = re.compile(r"m-([0-9a-f]{32})-([1-9][0-9]{0,5})")
_STATUSES = ("LOGGED_MODEL_PENDING", "LOGGED_MODEL_READY", "LOGGED_MODEL_UPLOAD_FAILED")


def model_ref(model_id: str) -> tuple[str, int]:
    """A logged model id as (run id, index in the run); NotFound if it is not one of ours."""
    match = _ID.fullmatch(model_id)
    if not match:
        raise NotFound(f"logged model {model_id!r} not found")
    return match.group(1), int(match.group(2))


def _records(run: Run) -> dict[int, dict[str, Any]]:
    found = {}
    for key, value in run.system_tags.items():
        if key.startswith(_RECORD_TAG) and key[len(_RECORD_TAG) :].isdigit():
            found[int(key[len(_RECORD_TAG) :])] = json.loads(value)
    return found


def logged_model_folder(store: SqlStore, model_id: str) -> tuple[str, str]:
    """The run and artifact folder holding logged model ``model_id``'s files."""
    run_id, index = model_ref(model_id)
    record = _records(store.get_run(run_id)).get(index)
    if record is None:
        raise NotFound(f"logged model {model_id!r} not found")
    return run_id, str(record["name"])


def logged_model_json(run: Run, index: int, record: dict[str, Any]) -> Body:
    info = {
        "model_id": f"m-{run.id}-{index}",
        "experiment_id": run.experiment_id,
        "name": record["name"],
        "creation_timestamp_ms": record["created"],
        "last_updated_timestamp_ms": record["updated"],
        "artifact_uri": f"{run_artifact_uri(run.id)}/{record['name']}",
        "status": record["status"],
        "model_type": record.get("model_type") or "",
        "source_run_id": run.id,
        "tags": tag_list(record.get("tags", {})),
    }
    return {"info": info, "data": {"params": tag_list(record.get("params", {})), "metrics": []}}


def _dataset(item: object) -> DatasetInput:
    """One MLflow ``DatasetInput`` (``{"tags", "dataset": {name, digest, source, schema, profile}}``)."""
    if not isinstance(item, dict) or not isinstance(item.get("dataset"), dict):
        raise InvalidInput("datasets must be a list of {dataset: {name, digest, …}, tags} objects")
    data = item["dataset"]
    tags = tag_dict(item.get("tags"))
    try:
        profile = json.loads(data.get("profile") or "{}")
        columns = json.loads(data.get("schema") or "{}").get("mlflow_colspec", [])
    except (json.JSONDecodeError, AttributeError):
        raise InvalidInput("a dataset's schema and profile must be JSON objects") from None
    schema = {
        str(c.get("name", i)): str(c.get("type", "")) for i, c in enumerate(columns) if isinstance(c, dict)
    }
    rows = profile.get("num_rows", 0) if isinstance(profile, dict) else 0
    return DatasetInput(
        name=str_field(data, "name"),
        digest=str_field(data, "digest"),
        n_rows=int(rows) if isinstance(rows, int | float | str) and str(rows).isdigit() else 0,
        schema=schema,
        context=tags.get("mlflow.data.context", "input"),
        source=data.get("source") or None,
    )


def logged_models_router(store: SqlStore, guard: Guard) -> MlflowRouter:
    """``/logged-models…``, ``runs/outputs``, ``runs/log-model`` and ``runs/log-inputs`` over ``store``."""
    router = MlflowRouter()

    def allow(request: Request, method: str) -> str:
        return guard.check(request, ROUTES[method].role, f"mlflow {method}").user

    def load(model_id: str) -> tuple[Run, int, dict[str, Any]]:
        run_id, index = model_ref(model_id)
        try:
            run = store.get_run(run_id)
        except NotFound:
            raise NotFound(f"logged model {model_id!r} not found") from None
        record = _records(run).get(index)
        if record is None:
            raise NotFound(f"logged model {model_id!r} not found")
        return run, index, record

    def save(run: Run, index: int, record: dict[str, Any]) -> Body:
        record["updated"] = now_ms()
        store.set_tags(run.id, {f"{_RECORD_TAG}{index}": json.dumps(record, sort_keys=True)})
        return {"model": logged_model_json(store.get_run(run.id), index, record)}

    def create(request: Request, fields: Body) -> Body:
        allow(request, "set_tags")
        name = str_field(fields, "name", required=False) or "model"
        run_id = str_field(fields, "source_run_id", required=False)
        if run_id:
            run = store.get_run(run_id)
        else:
            allow(request, "create_run")
            experiment = str_field(fields, "experiment_id", required=False) or DEFAULT_EXPERIMENT_ID
            if experiment == DEFAULT_EXPERIMENT_ID:
                found = store.get_experiment_by_name(DEFAULT_EXPERIMENT_NAME)
                experiment = (found or store.create_experiment(DEFAULT_EXPERIMENT_NAME)).id
            run = store.create_run(experiment, name=name)
        index = int(run.system_tags.get(COUNT_TAG, "0")) + 1
        record = {
            "name": name,
            "model_type": str_field(fields, "model_type", required=False),
            "status": "LOGGED_MODEL_PENDING",
            "created": now_ms(),
            "tags": tag_dict(fields.get("tags")),
            "params": tag_dict(fields.get("params"), "params"),
        }
        store.set_tags(run.id, {COUNT_TAG: str(index)})
        return save(run, index, record)

    def get(request: Request, fields: Body) -> Body:
        allow(request, "get_run")
        run, index, record = load(request.path_params["model_id"])
        return {"model": logged_model_json(run, index, record)}

    def finalize(request: Request, fields: Body) -> Body:
        allow(request, "set_tags")
        run, index, record = load(request.path_params["model_id"])
        status = str_field(fields, "status")
        if status not in _STATUSES:
            raise InvalidInput(f"unknown logged model status {status!r}: use one of {', '.join(_STATUSES)}")
        record["status"] = status
        return save(run, index, record)

    def set_tags(request: Request, fields: Body) -> Body:
        allow(request, "set_tags")
        run, index, record = load(request.path_params["model_id"])
        record["tags"] = {**record.get("tags", {}), **tag_dict(fields.get("tags"))}
        save(run, index, record)
        return {}

    def delete_tag(request: Request, fields: Body) -> Body:
        allow(request, "set_tags")
        run, index, record = load(request.path_params["model_id"])
        record.get("tags", {}).pop(request.path_params["tag_key"], None)
        save(run, index, record)
        return {}

    def log_params(request: Request, fields: Body) -> Body:
        allow(request, "set_tags")
        run, index, record = load(request.path_params["model_id"])
        record["params"] = {**record.get("params", {}), **tag_dict(fields.get("params"), "params")}
        save(run, index, record)
        return {}

    def delete(request: Request, fields: Body) -> Body:
        allow(request, "set_tags")
        load(request.path_params["model_id"])
        raise not_implemented(
            "DELETE /logged-models/{model_id}", "a logged model is part of its run; delete the run"
        )

    def search(request: Request, fields: Body) -> Body:
        allow(request, "search_runs")
        experiments = list_field(fields, "experiment_ids") or None
        runs = store.search_runs(experiments, filter=f"tags.`{COUNT_TAG}` LIKE '%'", max_results=50_000)
        models = [
            logged_model_json(run, index, record)
            for run in runs
            for index, record in sorted(_records(run).items())
        ]
        for clause in _simple_filter(str_field(fields, "filter", required=False)):
            key, value = clause
            models = [m for m in models if str(m["info"].get(key, "")) == value]
        models.sort(key=lambda m: m["info"]["creation_timestamp_ms"], reverse=True)
        max_results = max(1, int_field(fields, "max_results", 100))
        offset = int_field(fields, "page_token", 0)
        body: Body = {"models": models[offset : offset + max_results]}
        if offset + max_results < len(models):
            body["next_page_token"] = str(offset + max_results)
        return body

    def log_outputs(request: Request, fields: Body) -> Body:
        allow(request, "set_tags")
        store.get_run(str_field(fields, "run_id"))
        for item in fields.get("models") or []:
            load(str_field(item if isinstance(item, dict) else {}, "model_id"))  # must exist
        return {}

    def log_model_history(request: Request, fields: Body) -> Body:
        allow(request, "set_tags")
        run = store.get_run(str_field(fields, "run_id"))
        try:
            model = json.loads(str_field(fields, "model_json"))
            history = json.loads(run.tags.get("mlflow.log-model.history", "[]"))
        except json.JSONDecodeError:
            raise InvalidInput("model_json must be a JSON object") from None
        store.set_tags(run.id, {"mlflow.log-model.history": json.dumps([*history, model])})
        return {}

    def log_inputs(request: Request, fields: Body) -> Body:
        allow(request, "log_dataset_inputs")
        run_id = str_field(fields, "run_id")
        datasets = [_dataset(item) for item in fields.get("datasets") or []]
        if datasets:
            store.log_dataset_inputs(run_id, datasets)
        else:
            store.get_run(run_id)
        return {}

    for method, path, handler in (
        ("POST", "/logged-models", create),
        ("POST", "/logged-models/search", search),
        ("GET", "/logged-models/{model_id}", get),
        ("PATCH", "/logged-models/{model_id}", finalize),
        ("DELETE", "/logged-models/{model_id}", delete),
        ("PATCH", "/logged-models/{model_id}/tags", set_tags),
        ("DELETE", "/logged-models/{model_id}/tags/{tag_key}", delete_tag),
        ("POST", "/logged-models/{model_id}/params", log_params),
        ("POST", "/runs/outputs", log_outputs),
        ("POST", "/runs/log-model", log_model_history),
        ("POST", "/runs/log-inputs", log_inputs),
    ):
        add_endpoint(router, method, path, handler)
    return router


def _simple_filter(text: str) -> list[tuple[str, str]]:
    """``name = 'x' AND source_run_id = 'y'`` as (attribute, value) pairs; other filters are refused."""
    pairs = []
    for clause in re.split(r"\s+and\s+", text.strip(), flags=re.IGNORECASE) if text.strip() else []:
        match = re.fullmatch(r"\s*(?:attributes\.)?(\w+)\s*=\s*'([^']*)'\s*", clause)
        if not match or match.group(1) not in ("name", "source_run_id", "model_id", "status", "model_type"):
            raise not_implemented(
                "logged-models/search (filter)",
                f"only name/source_run_id/model_id/status/model_type = '…' filters are supported, not {clause!r}",
            )
        pairs.append((match.group(1), match.group(2)))
    return pairs
