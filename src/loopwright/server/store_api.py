"""``/api/v1``: every Store method as a route, built from the shared contract in :mod:`loopwright.store.routes`.

Each endpoint validates its path, query and body against the Store method's own annotations (so
the OpenAPI document describes exactly what ``RestStore`` sends), checks the route's role, calls
the server's :class:`~loopwright.store.sql.SqlStore` in a worker thread, and answers the method's
result as JSON. Writes honour the client's ``Idempotency-Key``: the key commits with the write,
so a request retried after a server died is applied once and answered as the first time.

Examples
--------
>>> from loopwright.store.routes import ROUTES
>>> body_model(ROUTES["create_experiment"]).model_json_schema()["required"]
['name']
"""

from __future__ import annotations

import inspect
import re
import time
import types
import typing
from collections.abc import Callable
from typing import Annotated, Any

import pydantic
from fastapi import APIRouter, Body, Path, Query, Request, Response

from loopwright.errors import Conflict, InvalidInput
from loopwright.server.errors import ERROR_RESPONSES
from loopwright.server.metrics import ServerMetrics
from loopwright.server.security import MAX_SEGMENT, PATH_SEGMENT, Guard
from loopwright.store.interface import Store
from loopwright.store.routes import API_PREFIX, ROUTES, Route
from loopwright.store.sql import SqlStore
from loopwright.store.sql.engine import AlreadyApplied, idempotent
from loopwright.store.wire import encode, signature_of

IDEMPOTENCY_KEY = re.compile(r"[A-Za-z0-9_\-]{8,64}")
#: writes without an ``actor`` of their own that the audit log records with the request's user
AUDITED = {
    "create_experiment": ("experiment", "created"),
    "delete_experiment": ("experiment", "deleted"),
    "restore_experiment": ("experiment", "restored"),
    "delete_run": ("run", "deleted"),
    "restore_run": ("run", "restored"),
}
USER_TAG = "loopwright.user"


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


def _body_fields(route: Route) -> dict[str, tuple[Any, Any]]:
    spec = signature_of(route.method)
    strict = _strict if not route.in_query else lambda hint: hint  # a query string is all strings
    fields: dict[str, tuple[Any, Any]] = {}
    for name, (hint, default) in spec.params.items():
        if name in route.path_params:
            continue
        if name == "actor":  # the server decides it; without --auth a client may name itself
            fields[name] = (str | None, None)
            continue
        fields[name] = (strict(hint), ... if default is inspect.Parameter.empty else default)
    return fields


def _strict(hint: Any) -> Any:
    """``hint`` with its top-level scalars strict: ``true`` is no count and ``"10"`` no integer."""
    strict = {int: pydantic.StrictInt, str: pydantic.StrictStr, bool: pydantic.StrictBool}
    if hint in strict:
        return strict[hint]
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return typing.Union[tuple(_strict(arg) for arg in typing.get_args(hint))]  # noqa: UP007
    return hint


def body_model(route: Route) -> type[pydantic.BaseModel]:
    """The JSON body a write route takes: the method's parameters that are not in the path."""
    return pydantic.create_model(  # type: ignore[call-overload]
        f"{_camel(route.method)}Request",
        __config__=pydantic.ConfigDict(extra="forbid"),
        **_body_fields(route),
    )


def _response_model(hint: Any) -> Any:
    return None if hint is type(None) else hint


# writes whose answer is the record as it is now: a replay (a retry after a lost answer) reads it again
# instead of the first answer being saved, which would cost a second transaction per request
REREADS: dict[str, Callable[[SqlStore, dict[str, Any]], Any]] = {
    "create_run": lambda store, args: store.get_run(args["run_id"]),
    "set_run_status": lambda store, args: store.get_run(args["run_id"]),
    "create_experiment": lambda store, args: store.get_experiment_by_name(args["name"]),
    "set_alias": lambda store, args: store.get_model_version_by_alias(args["name"], args["alias"]),
}


def _reread(route: Route, args: dict[str, Any]) -> Callable[[SqlStore, dict[str, Any]], Any] | None:
    if route.method == "create_run" and not args.get("run_id"):
        return None  # without a client-chosen id there is nothing to read again
    return REREADS.get(route.method)


def _result_of(route: Route, store: SqlStore, args: dict[str, Any], key: str | None) -> bytes:
    spec = signature_of(route.method)
    method: Callable[..., Any] = getattr(store, route.method)
    if not route.writes or key is None:
        return encode(method(**args))
    reread = _reread(route, args)
    try:
        with idempotent(key):
            answer = encode(method(**args))
    except AlreadyApplied:
        saved = store.idempotent_response(key)
        if saved is not None:
            return saved.encode()
        if spec.returns is type(None):
            return b"null"
        if reread is not None:
            return encode(reread(store, args))
        raise Conflict(
            f"request {key} was applied already; its answer was lost, look the result up"
        ) from None
    if spec.returns is not type(None) and reread is None:
        store.save_idempotent_response(key, answer.decode())
    return answer


def _endpoint(route: Route, store: SqlStore, guard: Guard, metrics: ServerMetrics) -> Callable[..., Any]:
    spec = signature_of(route.method)
    has_actor = "actor" in spec.params
    actor_required = has_actor and spec.params["actor"][1] is inspect.Parameter.empty
    parameters = [inspect.Parameter("request", inspect.Parameter.KEYWORD_ONLY, annotation=Request)]
    for name in route.path_params:
        hint, _ = spec.params[name]
        where = Path(pattern=PATH_SEGMENT, max_length=MAX_SEGMENT) if hint is str else Path()
        parameters.append(
            inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=Annotated[hint, where])
        )
    fields = _body_fields(route)
    if route.in_query:
        for name, (hint, default) in fields.items():
            parameters.append(
                inspect.Parameter(
                    name,
                    inspect.Parameter.KEYWORD_ONLY,
                    annotation=Annotated[hint, Query()],
                    # a required parameter has no default (``...`` would be taken as one)
                    default=inspect.Parameter.empty if default is ... else default,
                )
            )
    elif fields:
        model = body_model(route)
        # a body whose fields all have defaults may be left out (``POST /tokens/{id}/revoke``)
        optional = all(default is not ... for _, default in fields.values())
        parameters.append(
            inspect.Parameter(
                "body",
                inspect.Parameter.KEYWORD_ONLY,
                annotation=Annotated[model | None if optional else model, Body()],
                default=None if optional else inspect.Parameter.empty,
            )
        )

    def endpoint(request: Request, **kwargs: Any) -> Response:
        principal = guard.principal(request)  # checked against the route's role by its dependency
        body = kwargs.pop("body", None)
        args = dict(kwargs)
        if body is not None:
            args.update({name: getattr(body, name) for name in fields})
        if guard.enabled and has_actor:
            args["actor"] = principal.user  # never who the body says
        elif actor_required and not args.get("actor"):
            args["actor"] = principal.user
        if route.method == "create_run" and guard.enabled:
            args["tags"] = {**(args.get("tags") or {}), USER_TAG: principal.user}
        key = request.headers.get("idempotency-key")
        if key is not None and not IDEMPOTENCY_KEY.fullmatch(key):
            raise InvalidInput("Idempotency-Key must be 8-64 letters, digits, '-' or '_'")
        started = time.perf_counter()
        try:
            content = _result_of(route, store, args, key)
        finally:
            metrics.store_latency.labels(route.method).observe(time.perf_counter() - started)
        if route.method in AUDITED and guard.enabled:
            entity, action = AUDITED[route.method]
            subject = str(args.get("experiment_id") or args.get("run_id") or args.get("name"))
            store.append_event_audit(entity, subject, action, actor=principal.user)
        return Response(content, media_type="application/json")

    endpoint.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    endpoint.__name__ = route.method
    endpoint.__doc__ = inspect.getdoc(getattr(Store, route.method))
    return endpoint


def store_router(store: SqlStore, guard: Guard, metrics: ServerMetrics) -> APIRouter:
    """One route per entry of :data:`~loopwright.store.routes.ROUTES`."""
    router = APIRouter(prefix=API_PREFIX)  # in each route's own path: what /metrics labels show
    for route in ROUTES.values():
        returns = signature_of(route.method).returns
        router.add_api_route(
            route.path,
            _endpoint(route, store, guard, metrics),
            methods=[route.verb],
            name=route.method,
            tags=[route.tag],
            summary=route.method.replace("_", " "),
            response_model=_response_model(returns),
            responses=ERROR_RESPONSES,
            dependencies=[guard.requires(route.role, route.method)],
            description=f"Needs the **{route.role}** role (with `--auth`)."
            + (" Honours `Idempotency-Key`." if route.writes else ""),
        )
    return router
