"""MLflow's REST conventions: where endpoints live, how requests arrive, and its error format.

Every MLflow endpoint is answered under both ``/api/2.0/mlflow/…`` (the Python client) and
``/ajax-api/2.0/mlflow/…`` (MLflow's web UI). ``GET`` requests carry their fields in the query string,
others in a JSON body. Errors are ``{"error_code": CODE, "message": ONE LINE}``: Loopwright's own
errors translate to MLflow codes (:func:`mlflow_error`) so the client raises the exception it would
raise against ``mlflow server``.

Examples
--------
>>> from loopwright.errors import AlreadyExists, NotFound
>>> mlflow_error(NotFound("run 'abc' not found"))
(404, {'error_code': 'RESOURCE_DOES_NOT_EXIST', 'message': "run 'abc' not found"})
>>> mlflow_error(AlreadyExists("experiment 'churn' exists"))[0]
400
>>> int_field({"max_results": "25"}, "max_results", 1000), int_field({}, "max_results", 1000)
(25, 1000)
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, NamedTuple

import sqlalchemy as sa
from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from loopwright.errors import (
    AlreadyExists,
    Conflict,
    InvalidInput,
    LoopwrightError,
    NotFound,
    PermissionDenied,
    Unauthenticated,
    Unavailable,
)

log = logging.getLogger("loopwright.server")

PREFIXES = ("/api/2.0/mlflow", "/ajax-api/2.0/mlflow")

Body = dict[str, Any]
Handler = Callable[[Request, Body], Body]

_CODES: tuple[tuple[type[LoopwrightError], str, int], ...] = (
    (NotFound, "RESOURCE_DOES_NOT_EXIST", 404),
    (AlreadyExists, "RESOURCE_ALREADY_EXISTS", 400),
    (InvalidInput, "INVALID_PARAMETER_VALUE", 400),
    (Conflict, "INVALID_PARAMETER_VALUE", 400),
    (Unauthenticated, "UNAUTHENTICATED", 401),
    (PermissionDenied, "PERMISSION_DENIED", 403),
    (Unavailable, "TEMPORARILY_UNAVAILABLE", 503),
)


class MlflowApiError(LoopwrightError):
    """An answer in MLflow's terms that no Loopwright error names (e.g. ``NOT_IMPLEMENTED``)."""

    def __init__(self, error_code: str, message: str, status: int):
        super().__init__(message)
        self.error_code = error_code
        self.http_status = status


def mlflow_error(error: LoopwrightError) -> tuple[int, dict[str, str]]:
    """The HTTP status and MLflow error body for a Loopwright error."""
    if isinstance(error, MlflowApiError):
        return error.http_status, {"error_code": error.error_code, "message": str(error)}
    for kind, code, status in _CODES:
        if isinstance(error, kind):
            return status, {"error_code": code, "message": str(error)}
    return 500, {"error_code": "INTERNAL_ERROR", "message": str(error)}


def error_response(status: int, body: dict[str, str]) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body, status_code=status, headers=headers)


def guarded_call(request: Request, call: Callable[[], Response]) -> Response:
    """Run ``call``; a failure becomes one MLflow-format error answer, never a traceback."""
    try:
        return call()
    except LoopwrightError as error:
        status, body = mlflow_error(error)
        log.info("%s %s → %d %s", request.method, request.url.path, status, body["message"])
        return error_response(status, body)
    except (sa.exc.OperationalError, sa.exc.InterfaceError):
        log.warning("%s %s → 503 store unavailable", request.method, request.url.path)
        body = {"error_code": "TEMPORARILY_UNAVAILABLE", "message": "the store is unavailable; try again"}
        return JSONResponse(body, status_code=503, headers={"Retry-After": "1"})
    except Exception as error:  # one line for the client, the traceback in the server log
        reference = uuid.uuid4().hex[:12]
        log.error("%s %s → 500 [%s]", request.method, request.url.path, reference, exc_info=error)
        message = f"internal error; the server log has it as {reference}"
        return JSONResponse({"error_code": "INTERNAL_ERROR", "message": message}, status_code=500)


async def request_fields(request: Request) -> Body:
    """A request's fields: the query string for GET (repeated keys become lists), else the JSON body."""
    if request.method == "GET":
        fields: Body = {}
        for key, value in request.query_params.multi_items():
            if key in fields:
                previous = fields[key]
                fields[key] = [*previous, value] if isinstance(previous, list) else [previous, value]
            else:
                fields[key] = value
        return fields
    raw = await request.body()
    if not raw.strip():
        return dict(request.query_params)
    try:
        body = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise InvalidInput(f"the request body is not JSON: {error}") from None
    if not isinstance(body, dict):
        raise InvalidInput("the request body must be a JSON object")
    return body


Endpoint = Callable[[Request], Awaitable[Response]]


class MlflowRouter(APIRouter):
    """An APIRouter that also keeps its MLflow endpoints by ``(method, path)`` for :class:`MlflowLane`."""

    def __init__(self) -> None:
        super().__init__()
        self.endpoints: dict[tuple[str, str], Endpoint] = {}

    def include(self, other: APIRouter) -> None:
        """``include_router``, keeping ``other``'s endpoint table too."""
        self.include_router(other)
        if isinstance(other, MlflowRouter):
            self.endpoints.update(other.endpoints)


def add_endpoint(router: MlflowRouter, method: str, path: str, handler: Handler) -> None:
    """Answer ``method path`` under both MLflow prefixes with ``handler`` (run in a worker thread)."""

    async def endpoint(request: Request) -> Response:
        try:
            fields = await request_fields(request)
        except LoopwrightError as error:
            return error_response(*mlflow_error(error))
        return await run_in_threadpool(guarded_call, request, lambda: JSONResponse(handler(request, fields)))

    for prefix in PREFIXES:
        router.add_api_route(
            prefix + path, endpoint, methods=[method], include_in_schema=False, name=f"mlflow {path}"
        )
        if "{" not in path:  # a fixed path: the lane finds it by a dict lookup
            router.endpoints[(method, prefix + path)] = endpoint


class LaneRoute(NamedTuple):
    """What the lane puts in ``scope["route"]``: the template ``/metrics`` labels a request with."""

    path: str


class MlflowLane:
    """ASGI middleware answering MLflow's fixed-path endpoints before FastAPI's router sees them.

    FastAPI matches a request against every route in turn (some 250 here, MLflow's after
    ``/api/v1``'s): about 3 ms per request on a loaded 2-core machine, more than the
    ``log-metric`` write itself. MLflow's client sends one request per ``log_metric``, so its
    endpoints are found by one dict lookup instead; the same endpoint functions answer (the same
    handler, errors, roles and audit), and any other path goes on to the router.
    """

    def __init__(self, app: ASGIApp, endpoints: dict[tuple[str, str], Endpoint]):
        self.app = app
        self.endpoints = endpoints

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        endpoint = self.endpoints.get((scope.get("method", ""), scope.get("path", "")))
        if endpoint is None or scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        scope["route"] = LaneRoute(scope["path"])
        response = await endpoint(Request(scope, receive))
        await response(scope, receive, send)


def unsupported(router: APIRouter) -> None:
    """Any other ``/api/2.0/mlflow/…`` (or ``3.0``) path: MLflow's ENDPOINT_NOT_FOUND naming the endpoint."""

    async def not_found(request: Request, rest: str) -> Response:
        body = {
            "error_code": "ENDPOINT_NOT_FOUND",
            "message": f"{request.method} {request.url.path} is not supported by Loopwright's MLflow API "
            "(see docs/DESIGN.md, MLflow compatibility)",
        }
        return JSONResponse(body, status_code=404)

    for prefix in (*PREFIXES, "/api/3.0/mlflow", "/ajax-api/3.0/mlflow"):  # MLflow 3's traces, server-info
        router.add_api_route(
            prefix + "/{rest:path}",
            not_found,
            methods=["GET", "POST", "PATCH", "DELETE", "PUT"],
            include_in_schema=False,
        )


def not_implemented(endpoint: str, instead: str) -> MlflowApiError:
    """MLflow's NOT_IMPLEMENTED (501) for a known endpoint Loopwright does not answer, and why."""
    return MlflowApiError("NOT_IMPLEMENTED", f"MLflow endpoint {endpoint} is not implemented: {instead}", 501)


def str_field(fields: Body, key: str, *, required: bool = True, default: str = "") -> str:
    value = fields.get(key)
    if value is None or value == "":
        if required:
            raise InvalidInput(f"missing value for required parameter '{key}'")
        return default
    if isinstance(value, list | dict):
        raise InvalidInput(f"parameter '{key}' must be a single value")
    return str(value)


def int_field(fields: Body, key: str, default: int) -> int:
    value = fields.get(key)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise InvalidInput(f"parameter '{key}' must be an integer, got {value!r}") from None


def float_field(fields: Body, key: str) -> float:
    value = fields.get(key)
    try:
        return float(value)  # type: ignore[arg-type]  # None and junk are refused below
    except (TypeError, ValueError):
        raise InvalidInput(f"parameter '{key}' must be a number, got {value!r}") from None


def list_field(fields: Body, key: str) -> list[str]:
    value = fields.get(key)
    if value is None:
        return []
    return [str(item) for item in value] if isinstance(value, list) else [str(value)]
