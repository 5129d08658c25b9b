"""MLflow's tracking endpoints (experiments, runs, metrics) translated onto the server's SqlStore.

Each MLflow call becomes one Store call (or a few) with the role the same Store call needs under
``/api/v1``; metrics go through :meth:`Store.log_metrics`, the batched path, one transaction per call.
``page_token`` is the offset of the next page.

Examples
--------
>>> import tempfile
>>> from fastapi import FastAPI
>>> from starlette.testclient import TestClient
>>> from loopwright.server.security import Guard
>>> from loopwright.store.sql import SqlStore
>>> store = SqlStore(f"sqlite:///{tempfile.mkdtemp()}/lw.db")
>>> app = FastAPI()
>>> app.include_router(tracking_router(store, Guard(store, enabled=False)))
>>> http = TestClient(app)
>>> exp = http.post("/api/2.0/mlflow/experiments/create", json={"name": "churn"}).json()["experiment_id"]
>>> run = http.post("/api/2.0/mlflow/runs/create", json={"experiment_id": exp}).json()["run"]["info"]
>>> http.post("/api/2.0/mlflow/runs/log-metric",
...           json={"run_id": run["run_id"], "key": "auc", "value": 0.9, "timestamp": 1, "step": 0}).json()
{}
>>> http.get("/api/2.0/mlflow/runs/get", params={"run_id": run["run_id"]}).json()["run"]["info"]["status"]
'RUNNING'
"""

from __future__ import annotations

import fnmatch
from functools import partial
from typing import Any

from fastapi import Request

from loopwright.errors import InvalidInput, NotFound
from loopwright.server.security import Guard
from loopwright.server.store_api import AUDITED, USER_TAG
from loopwright.store.entities import MetricPoint, now_ms
from loopwright.store.routes import ROUTES
from loopwright.store.search import Grammar, parse_filter, parse_order_by
from loopwright.store.sql import SqlStore

from .protocol import (
    Body,
    MlflowRouter,
    add_endpoint,
    float_field,
    int_field,
    list_field,
    not_implemented,
    str_field,
)
from .translate import (
    DEFAULT_EXPERIMENT_ID,
    DEFAULT_EXPERIMENT_NAME,
    KILLED_TAG,
    experiment_json,
    loopwright_status,
    metric_json,
    ms,
    run_info_json,
    run_json,
    tag_dict,
    view_type,
)

_EXPERIMENTS = Grammar(
    "experiment",
    {"tags": "tag", "tag": "tag", "attribute": "attribute", "attributes": "attribute"},
    {"name": "name", "experiment_id": "experiment_id", "creation_time": "creation_time"},
    frozenset({"creation_time"}),
)
_MAX_PAGE = 50_000


def _metric_points(run_id: str, metrics: object) -> list[tuple[str, MetricPoint]]:
    if not isinstance(metrics, list):
        raise InvalidInput("metrics must be a list of {key, value, timestamp, step} objects")
    stamp = now_ms()
    points = []
    for item in metrics:
        if not isinstance(item, dict):
            raise InvalidInput("metrics must be a list of {key, value, timestamp, step} objects")
        point = MetricPoint(
            str_field(item, "key"),
            float_field(item, "value"),
            int_field(item, "step", 0),
            int_field(item, "timestamp", stamp),
        )
        points.append((run_id, point))
    return points


def tracking_router(store: SqlStore, guard: Guard) -> MlflowRouter:
    """The experiment, run and metric endpoints over ``store``, roles checked by ``guard``."""
    router = MlflowRouter()

    def allow(request: Request, method: str) -> str:
        return guard.check(request, ROUTES[method].role, f"mlflow {method}").user

    def audit(request: Request, method: str, subject: str) -> None:
        """What ``/api/v1`` audits for the same Store call, with the token's user (under --auth)."""
        if guard.enabled:
            entity, action = AUDITED[method]
            store.append_event_audit(entity, subject, action, actor=guard.principal(request).user)

    def experiment_id(value: str) -> str:
        if value != DEFAULT_EXPERIMENT_ID:
            return value
        found = store.get_experiment_by_name(DEFAULT_EXPERIMENT_NAME)
        return found.id if found else store.create_experiment(DEFAULT_EXPERIMENT_NAME).id

    # -- experiments ---------------------------------------------------------------------------
    def create_experiment(request: Request, fields: Body) -> Body:
        allow(request, "create_experiment")
        if fields.get("artifact_location"):
            raise InvalidInput(
                "artifact_location is not supported: Loopwright stores artifacts under the server's "
                "artifact root (loopwright server --artifact-uri)"
            )
        tags = tag_dict(fields.get("tags"))
        created = store.create_experiment(str_field(fields, "name"), tags)
        audit(request, "create_experiment", created.id)
        return {"experiment_id": created.id}

    def get_experiment(request: Request, fields: Body) -> Body:
        allow(request, "get_experiment")
        found = store.get_experiment(experiment_id(str_field(fields, "experiment_id")))
        return {"experiment": experiment_json(found)}

    def get_experiment_by_name(request: Request, fields: Body) -> Body:
        allow(request, "get_experiment_by_name")
        name = str_field(fields, "experiment_name")
        found = store.get_experiment_by_name(name)
        if found is None and name == DEFAULT_EXPERIMENT_NAME:
            found = store.get_experiment(experiment_id(DEFAULT_EXPERIMENT_ID))
        if found is None:
            raise NotFound(f"Could not find experiment with name '{name}'")
        return {"experiment": experiment_json(found)}

    def search_experiments(request: Request, fields: Body) -> Body:
        allow(request, "list_experiments")
        view = view_type(fields.get("view_type"))
        found = [
            exp
            for exp in store.list_experiments(include_deleted=view != "1")
            if view != "2" or exp.lifecycle == "deleted"
        ]
        for clause in parse_filter(fields.get("filter") or None, _EXPERIMENTS):
            found = [exp for exp in found if _experiment_matches(exp, clause)]
        orders = parse_order_by(list_field(fields, "order_by") or ["creation_time DESC"], _EXPERIMENTS)
        for order in reversed(orders):  # stable sorts, last key first
            found.sort(key=partial(_experiment_key, kind=order.kind, key=order.key), reverse=order.descending)
        return _page(fields, [experiment_json(exp) for exp in found], "experiments", 1000)

    def delete_experiment(request: Request, fields: Body) -> Body:
        allow(request, "delete_experiment")
        found = experiment_id(str_field(fields, "experiment_id"))
        store.delete_experiment(found)
        audit(request, "delete_experiment", found)
        return {}

    def restore_experiment(request: Request, fields: Body) -> Body:
        allow(request, "restore_experiment")
        found = experiment_id(str_field(fields, "experiment_id"))
        store.restore_experiment(found)
        audit(request, "restore_experiment", found)
        return {}

    # -- runs ----------------------------------------------------------------------------------
    def create_run(request: Request, fields: Body) -> Body:
        user = allow(request, "create_run")
        tags = tag_dict(fields.get("tags"))
        if guard.enabled:  # as /api/v1 does: the token's user, whatever the client's tags say
            tags[USER_TAG] = user
        run = store.create_run(
            experiment_id(str_field(fields, "experiment_id", required=False, default=DEFAULT_EXPERIMENT_ID)),
            name=str_field(fields, "run_name", required=False) or tags.get("mlflow.runName") or None,
            tags={"mlflow.user": str_field(fields, "user_id", required=False), **tags}
            if fields.get("user_id")
            else tags,
            parent_id=tags.get("mlflow.parentRunId") or None,
            start_ms=int_field(fields, "start_time", now_ms()),
        )
        return {"run": run_json(run)}

    def run_id_of(fields: Body) -> str:
        return (
            str_field(fields, "run_id", required=False)
            or str_field(fields, "run_uuid", required=False)
            or str_field(fields, "run_id")
        )

    def get_run(request: Request, fields: Body) -> Body:
        allow(request, "get_run")
        return {"run": run_json(store.get_run(run_id_of(fields)))}

    def update_run(request: Request, fields: Body) -> Body:
        allow(request, "set_run_status")
        run_id = run_id_of(fields)
        run = store.get_run(run_id)
        new_name = str_field(fields, "run_name", required=False)
        if new_name and new_name != run.name:
            raise not_implemented("runs/update (run_name)", "Loopwright runs keep the name they start with")
        if fields.get("status"):
            status, killed = loopwright_status(fields["status"])
            if killed:
                store.set_tags(run_id, {KILLED_TAG: "KILLED"})
            if status != run.status or killed:
                end = int_field(fields, "end_time", now_ms()) if status != "running" else None
                error = "KILLED by the MLflow client" if killed else None
                run = store.set_run_status(run_id, status, end_ms=end, error=error)
            else:
                run = store.get_run(run_id)
        return {"run_info": run_info_json(run)}

    def delete_run(request: Request, fields: Body) -> Body:
        allow(request, "delete_run")
        store.delete_run(run_id_of(fields))
        audit(request, "delete_run", run_id_of(fields))
        return {}

    def restore_run(request: Request, fields: Body) -> Body:
        allow(request, "restore_run")
        store.restore_run(run_id_of(fields))
        audit(request, "restore_run", run_id_of(fields))
        return {}

    def search_runs(request: Request, fields: Body) -> Body:
        allow(request, "search_runs")
        view = view_type(fields.get("run_view_type"))
        max_results = min(int_field(fields, "max_results", 1000), _MAX_PAGE)
        offset = int_field(fields, "page_token", 0)
        if max_results < 1 or offset < 0:
            raise InvalidInput("max_results must be positive and page_token an offset from 0")
        runs = store.search_runs(
            [experiment_id(e) for e in list_field(fields, "experiment_ids")] or None,
            filter=fields.get("filter") or None,
            order_by=list_field(fields, "order_by") or None,
            max_results=max_results + 1,
            offset=offset,
            include_deleted=view != "1",
        )
        if view == "2":
            runs = [run for run in runs if run.lifecycle == "deleted"]
        body: Body = {"runs": [run_json(run) for run in runs[:max_results]]}
        if len(runs) > max_results:
            body["next_page_token"] = str(offset + max_results)
        return body

    # -- params, tags, metrics -----------------------------------------------------------------
    def log_metric(request: Request, fields: Body) -> Body:
        allow(request, "log_metrics")
        run_id = run_id_of(fields)
        point = MetricPoint(
            str_field(fields, "key"),
            float_field(fields, "value"),
            int_field(fields, "step", 0),
            int_field(fields, "timestamp", now_ms()),
        )
        store.log_metrics([(run_id, point)])
        return {}

    def log_param(request: Request, fields: Body) -> Body:
        allow(request, "log_params")
        store.log_params(
            run_id_of(fields), {str_field(fields, "key"): str_field(fields, "value", required=False)}
        )
        return {}

    def set_tag(request: Request, fields: Body) -> Body:
        allow(request, "set_tags")
        store.set_tags(
            run_id_of(fields), {str_field(fields, "key"): str_field(fields, "value", required=False)}
        )
        return {}

    def delete_tag(request: Request, fields: Body) -> Body:
        allow(request, "delete_tag")
        store.delete_tag(run_id_of(fields), str_field(fields, "key"))
        return {}

    def log_batch(request: Request, fields: Body) -> Body:
        allow(request, "log_metrics")
        run_id = run_id_of(fields)
        params = tag_dict(fields.get("params"), "params")
        tags = tag_dict(fields.get("tags"))
        points = _metric_points(run_id, fields.get("metrics") or [])
        if params:
            store.log_params(run_id, params)
        if tags:
            store.set_tags(run_id, tags)
        if points:
            store.log_metrics(points)
        return {}

    def get_metric_history(request: Request, fields: Body) -> Body:
        allow(request, "list_metric_history")
        points = store.list_metric_history(run_id_of(fields), str_field(fields, "metric_key"))
        max_results = int_field(fields, "max_results", 0)
        max_results = max_results if max_results > 0 else len(points) or 1  # unset or 0: everything
        offset = max(0, int_field(fields, "page_token", 0))
        body: Body = {"metrics": [metric_json(p) for p in points[offset : offset + max_results]]}
        if offset + max_results < len(points):
            body["next_page_token"] = str(offset + max_results)
        return body

    for method, path, handler in (
        ("POST", "/experiments/create", create_experiment),
        ("GET", "/experiments/get", get_experiment),
        ("GET", "/experiments/get-by-name", get_experiment_by_name),
        ("POST", "/experiments/search", search_experiments),
        ("GET", "/experiments/search", search_experiments),
        ("POST", "/experiments/delete", delete_experiment),
        ("POST", "/experiments/restore", restore_experiment),
        ("POST", "/runs/create", create_run),
        ("GET", "/runs/get", get_run),
        ("POST", "/runs/update", update_run),
        ("POST", "/runs/delete", delete_run),
        ("POST", "/runs/restore", restore_run),
        ("POST", "/runs/search", search_runs),
        ("POST", "/runs/log-metric", log_metric),
        ("POST", "/runs/log-parameter", log_param),
        ("POST", "/runs/set-tag", set_tag),
        ("POST", "/runs/delete-tag", delete_tag),
        ("POST", "/runs/log-batch", log_batch),
        ("GET", "/metrics/get-history", get_metric_history),
    ):
        add_endpoint(router, method, path, handler)
    return router


def _page(fields: Body, items: list[Any], key: str, default_max: int) -> Body:
    max_results = max(1, min(int_field(fields, "max_results", default_max), _MAX_PAGE))
    offset = int_field(fields, "page_token", 0)
    body: Body = {key: items[offset : offset + max_results]}
    if offset + max_results < len(items):
        body["next_page_token"] = str(offset + max_results)
    return body


def _experiment_key(experiment: Any, kind: str, key: str) -> Any:
    if kind == "tag":
        return experiment.tags.get(key, "")
    if key == "creation_time":
        return ms(experiment.created_at) or 0
    return experiment.id if key == "experiment_id" else experiment.name


def _experiment_matches(experiment: Any, clause: Any) -> bool:
    if clause.kind == "tag":
        actual: Any = experiment.tags.get(clause.key)
    else:
        actual = _experiment_key(experiment, clause.kind, clause.key)
    if actual is None:
        return clause.op == "!="
    value = clause.value
    if clause.op in ("LIKE", "ILIKE"):
        pattern = str(value).replace("%", "*").replace("_", "?")
        if clause.op == "ILIKE":
            return fnmatch.fnmatchcase(str(actual).lower(), pattern.lower())
        return fnmatch.fnmatchcase(str(actual), pattern)
    if clause.op in ("IN", "NOT IN"):
        return (str(actual) in value) == (clause.op == "IN")
    if isinstance(value, float):
        actual = float(actual)
    comparisons = {
        "=": actual == value,
        "!=": actual != value,
        "<": actual < value,
        "<=": actual <= value,
        ">": actual > value,
        ">=": actual >= value,
    }
    return comparisons[clause.op]
