"""Request bodies are size-limited before they are read: 413 with one JSON line, nothing stored.

Uploads (``PUT`` of blobs and artifacts, streamed to disk) get their own, larger limit.

Examples
--------
>>> is_upload("PUT", "/api/v1/blobs/ab12"), is_upload("POST", "/api/v1/metrics")
(True, False)
"""

from __future__ import annotations

import json

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

UPLOAD_PREFIXES = ("/api/v1/blobs/", "/api/v1/runs/", "/api/v1/models/")


def is_upload(method: str, path: str) -> bool:
    return (
        method == "PUT" and path.startswith(UPLOAD_PREFIXES) and ("/blobs/" in path or "/artifacts/" in path)
    )


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, max_body_bytes: int, max_upload_bytes: int):
        self.app = app
        self.max_body = max_body_bytes
        self.max_upload = max_upload_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.max_upload if is_upload(scope["method"], scope["path"]) else self.max_body
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await _too_large(send, limit)
            return
        seen = 0

        async def receiving() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:  # a chunked body without a length: stop reading, answer 413
                    raise HTTPException(413, f"request body larger than {limit} bytes")
            return message

        await self.app(scope, receiving, send)


async def _too_large(send: Send, limit: int) -> None:
    body = json.dumps(
        {"error": "InvalidInput", "message": f"request body larger than {limit} bytes"}
    ).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": body})
