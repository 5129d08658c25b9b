"""One place maps what goes wrong to an HTTP answer: ``{"error": KIND, "message": ONE LINE}``.

``KIND`` is the :mod:`loopwright.errors` class name, so ``RestStore`` raises the same exception the
store raised on the server. A database that is down is 503, never 500; an unexpected failure is one
500 line with a reference to the server log, never a traceback.

Examples
--------
>>> from loopwright.errors import NotFound
>>> status, body = error_body(NotFound("run 'abc' not found"))
>>> status, body
(404, {'error': 'NotFound', 'message': "run 'abc' not found"})
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

import orjson
import sqlalchemy as sa
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException

from loopwright.errors import LoopwrightError, Unauthenticated

log = logging.getLogger("loopwright.server")


class ErrorBody(BaseModel):
    """Every error answer's shape."""

    error: str
    message: str


#: the answers every API route may give besides its own, for the OpenAPI document
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": description}
    for status, description in (
        (400, "malformed request"),
        (401, "no valid bearer token (with --auth)"),
        (403, "the token's role may not do this"),
        (404, "no such thing"),
        (409, "conflicts with the current state"),
        (413, "request body too large"),
        (422, "a value is invalid"),
        (503, "the store is unavailable"),
    )
}


def error_body(error: LoopwrightError) -> tuple[int, dict[str, str]]:
    return error.http_status, {"error": type(error).__name__, "message": str(error)}


def store_is_down(error: sa.exc.DBAPIError) -> bool:
    """Whether a database error means the connection (not the statement) failed.

    >>> store_is_down(sa.exc.OperationalError("SELECT 1", {}, Exception("server closed the connection")))
    True
    >>> store_is_down(sa.exc.DBAPIError("SELECT 1", {}, Exception("division by zero")))
    False
    """
    return isinstance(error, sa.exc.OperationalError | sa.exc.InterfaceError) or error.connection_invalidated


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(LoopwrightError)
    async def _loopwright(request: Request, error: LoopwrightError) -> JSONResponse:
        status, body = error_body(error)
        log.info("%s %s → %d %s", request.method, request.url.path, status, body["message"])
        headers = {"WWW-Authenticate": "Bearer"} if isinstance(error, Unauthenticated) else None
        return JSONResponse(body, status_code=status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        problems = []
        for item in error.errors()[:5]:
            where = ".".join(str(part) for part in item.get("loc", ()))
            problems.append(f"{where}: {item.get('msg', 'invalid')}")
        message = "; ".join(problems) or "invalid request"
        log.info("%s %s → 422 %s", request.method, request.url.path, message)
        return JSONResponse({"error": "InvalidInput", "message": message}, status_code=422)

    @app.exception_handler(HTTPException)
    async def _http(request: Request, error: HTTPException) -> JSONResponse:
        kind = {400: "InvalidInput", 404: "NotFound", 405: "InvalidInput", 413: "InvalidInput"}.get(
            error.status_code, "HTTPError"
        )
        return JSONResponse(
            {"error": kind, "message": str(error.detail)},
            status_code=error.status_code,
            headers=error.headers,
        )

    @app.exception_handler(OverflowError)
    @app.exception_handler(sa.exc.DataError)
    @app.exception_handler(orjson.JSONEncodeError)
    async def _out_of_range(request: Request, error: Exception) -> JSONResponse:
        # an integer past 64 bits somewhere in a valid-looking body (SQLite's driver raises
        # OverflowError, PostgreSQL a DataError, orjson writing a JSON column JSONEncodeError): the
        # client's value, so 422 (the schema cannot bound every nested number); no driver text echoed
        message = "a value is out of the store's range (integers are 64-bit, strings as documented)"
        log.info("%s %s → 422 %s: %s", request.method, request.url.path, message, type(error).__name__)
        return JSONResponse({"error": "InvalidInput", "message": message}, status_code=422)

    @app.exception_handler(sa.exc.IntegrityError)
    async def _conflict(request: Request, error: sa.exc.IntegrityError) -> JSONResponse:
        # a unique or foreign key the store did not check first (an id sent twice): the request
        # conflicts with what is stored; the constraint's text names no value, the statement is dropped
        reason = str(error.orig).splitlines()[0][:200] if error.orig else "constraint failed"
        log.info("%s %s → 409 %s", request.method, request.url.path, reason)
        body = {"error": "Conflict", "message": f"conflicts with what is stored ({reason})"}
        return JSONResponse(body, status_code=409)

    @app.exception_handler(sa.exc.DBAPIError)
    async def _database(request: Request, error: sa.exc.DBAPIError) -> JSONResponse:
        # a dead connection surfaces as OperationalError, InterfaceError or any DBAPIError whose
        # connection SQLAlchemy invalidated: all mean "the store is down", so 503 (never 500)
        if store_is_down(error):
            return await _store_down(request, error)
        return await _unexpected(request, error)

    @app.exception_handler(sa.exc.OperationalError)
    @app.exception_handler(sa.exc.InterfaceError)
    async def _store_down(request: Request, error: Exception) -> JSONResponse:
        reason = " ".join(str(getattr(error, "orig", None) or error).split("(Background")[0].split())[:200]
        log.warning("%s %s → 503 store unavailable: %s", request.method, request.url.path, reason)
        body = {"error": "Unavailable", "message": "the store is unavailable; try again"}
        return JSONResponse(body, status_code=503, headers={"Retry-After": "1"})

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, error: Exception) -> JSONResponse:
        reference = uuid.uuid4().hex[:12]
        log.error("%s %s → 500 [%s]", request.method, request.url.path, reference, exc_info=error)
        body = {"error": "InternalError", "message": f"internal error; the server log has it as {reference}"}
        return JSONResponse(body, status_code=500)
