"""HTTP answers of the serving app: JSON bodies, error mapping and the ASGI send calls.

Every error has one body shape that both protocol families understand: ``error`` (Open
Inference Protocol), ``error_code`` + ``message`` (MLflow scoring server) and the ``request_id``
that also appears in the access log.

Examples
--------
>>> status, body = error_body(HttpError(415, "use application/json"), "r1")
>>> status, body
(415, b'{"error":"use application/json","error_code":"UNSUPPORTED_MEDIA_TYPE","message":"use application/json","request_id":"r1"}')
"""

from __future__ import annotations

from typing import Any

import orjson

from loopwright.errors import LoopwrightError
from loopwright.serving.types import Send

JSON_OPTIONS = orjson.OPT_SERIALIZE_NUMPY
JSON_TYPE = b"application/json"
ERROR_CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "RESOURCE_DOES_NOT_EXIST",
    405: "METHOD_NOT_ALLOWED",
    409: "CONFLICT",
    413: "REQUEST_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    422: "INVALID_PARAMETER_VALUE",
    500: "INTERNAL_ERROR",
    502: "BAD_GATEWAY",
    503: "TEMPORARILY_UNAVAILABLE",
}


class HttpError(Exception):
    """An error answer with a status code and a message safe to show the caller."""

    def __init__(self, status: int, message: str, headers: list[tuple[bytes, bytes]] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or []


def status_of(error: BaseException) -> int:
    """Our errors map to their ``http_status``; the model's own input check refusing values is a 422;
    anything else is a 500."""
    if isinstance(error, HttpError):
        return error.status
    if isinstance(error, LoopwrightError) and error.http_status != 500:
        return error.http_status
    if refused_by_model_input_check(error):
        return 422
    return 500


def refused_by_model_input_check(error: BaseException) -> bool:
    """scikit-learn's input check (``sklearn.utils.validation``) raised the error itself.

    Values the signature allows can still be outside what the estimator takes (tree models work in
    float32, so a float64 past 3.4e38 is refused there): that is the input's fault. Only an error
    raised inside that module counts, so a model's own bugs stay 500s.
    """
    if not isinstance(error, ValueError):
        return False
    frame = error.__traceback__
    while frame is not None and frame.tb_next is not None:
        frame = frame.tb_next
    return frame is not None and frame.tb_frame.f_globals.get("__name__") == "sklearn.utils.validation"


def error_body(
    error: BaseException, request_id: str, status: int | None = None, error_code: str | None = None
) -> tuple[int, bytes]:
    """Status and JSON body for an error; 500s never carry the exception text. ``status`` and
    ``error_code`` override the mapped ones (``/invocations`` answers input errors as MLflow does)."""
    status = status_of(error) if status is None else status
    if status == 500:
        message = (
            f"the model failed on this request; the server log has details under request id {request_id}"
        )
    elif isinstance(error, HttpError):
        message = error.message
    elif isinstance(error, LoopwrightError):
        message = str(error)
    else:
        message = f"the model's input check refused this request: {error}"
    body = {
        "error": message,
        "error_code": error_code or ERROR_CODES.get(status, "ERROR"),
        "message": message,
        "request_id": request_id,
    }
    return status, orjson.dumps(body)


def _fallback(value: Any) -> Any:
    tolist = getattr(value, "tolist", None)  # numpy arrays orjson declines (object dtype, strided)
    return tolist() if callable(tolist) else str(value)


def dumps(payload: Any) -> bytes:
    """JSON bytes; numpy arrays serialise natively (no ``tolist`` on the hot path)."""
    return orjson.dumps(payload, option=JSON_OPTIONS, default=_fallback)


async def send_response(
    send: Send,
    status: int,
    body: bytes,
    headers: list[tuple[bytes, bytes]],
    content_type: bytes = JSON_TYPE,
) -> None:
    """Start and finish one HTTP response."""
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
