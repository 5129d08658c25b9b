"""Artifacts through the server, streamed both ways: blobs by digest, and files by logical name.

``RestStore`` clients move bytes with ``PUT``/``GET /api/v1/blobs/{sha256}`` (the server hashes what
arrives and refuses it unless it matches) and never need the bucket's credentials. People and
scripts use names inside an owner's namespace: ``/api/v1/runs/{run_id}/artifacts/{path}`` and
``/api/v1/models/{name}/versions/{version}/artifacts/{path}``. A name is refused with 400 unless it
stays inside that namespace however it is decoded: no ``..``, absolute or backslash paths, no
percent-escapes left after the URL's own decoding (double encoding), no ``#``/``?``, NUL or control
characters, and nothing Unicode normalisation would turn into a dot or a slash.

Examples
--------
>>> served_artifact_path("plots/roc.png")
'plots/roc.png'
>>> served_artifact_path("%2e%2e/secret")
Traceback (most recent call last):
...
loopwright.errors.InvalidInput: invalid artifact path '%2e%2e/secret': percent-escapes are not allowed (double encoding)
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import unicodedata
from pathlib import Path as FsPath
from typing import Annotated

from fastapi import APIRouter, Path, Request, Response
from fastapi.responses import FileResponse
from starlette.background import BackgroundTask
from starlette.exceptions import HTTPException

from loopwright.artifacts import BlobStore
from loopwright.artifacts.blobs import check_digest
from loopwright.errors import IntegrityError, InvalidInput
from loopwright.names import validate_artifact_path, validate_name, validate_version
from loopwright.server.errors import ERROR_RESPONSES
from loopwright.server.security import MAX_SEGMENT, PATH_SEGMENT, Guard
from loopwright.store import ArtifactRef, GcReport
from loopwright.store.routes import API_PREFIX
from loopwright.store.sql import SqlStore

_ESCAPE = re.compile(r"%[0-9A-Fa-f]{2}")
#: a run id or model name in an artifact route's path
Segment = Annotated[str, Path(pattern=PATH_SEGMENT, max_length=MAX_SEGMENT)]


def served_artifact_path(path: str) -> str:
    """``path`` if it names a file inside its namespace however a client or filesystem decodes it."""
    problem = None
    if _ESCAPE.search(path):
        problem = "percent-escapes are not allowed (double encoding)"
    elif "#" in path or "?" in path:
        problem = "'#' and '?' are not allowed"
    elif unicodedata.normalize("NFKC", path) != path:
        problem = (
            "characters that Unicode normalisation changes (e.g. full-width dots or slashes) are not allowed"
        )
    if problem:
        raise InvalidInput(f"invalid artifact path {path!r}: {problem}")
    return validate_artifact_path(path)


def _artifact_name(path: str) -> str:
    """:func:`served_artifact_path` for a route: an escape is a 400 (the request is malformed),
    answered as ``InvalidInput`` like every bad name."""
    try:
        return served_artifact_path(path)
    except InvalidInput as error:
        raise HTTPException(400, str(error)) from None


async def _receive_file(request: Request, folder: str) -> tuple[str, str, int]:
    """Stream the request body to a temporary file; its path, SHA-256 and size."""
    hasher = hashlib.sha256()
    size = 0
    handle = tempfile.NamedTemporaryFile(dir=folder, prefix="upload-", delete=False)  # noqa: SIM115
    try:
        with handle:
            async for chunk in request.stream():
                hasher.update(chunk)
                size += len(chunk)
                handle.write(chunk)
    except BaseException:
        os.unlink(handle.name)
        raise
    return handle.name, hasher.hexdigest(), size


def artifact_router(store: SqlStore, blobs: BlobStore, guard: Guard, spool: str) -> APIRouter:
    """Blob and artifact routes over the server's own store and blob root."""
    router = APIRouter(prefix=API_PREFIX, responses=ERROR_RESPONSES)

    async def store_upload(request: Request) -> tuple[str, int]:
        temp, digest, size = await _receive_file(request, spool)
        try:
            blobs.put_file(temp)
        finally:
            os.unlink(temp)
        return digest, size

    def send_blob(digest: str, filename: str | None = None) -> FileResponse:
        copy = blobs.get_file(digest, FsPath(spool) / f"download-{os.urandom(8).hex()}")
        return FileResponse(
            copy,
            media_type="application/octet-stream",
            filename=filename,
            headers={"X-Content-SHA256": digest},
            background=BackgroundTask(copy.unlink, missing_ok=True),
        )

    @router.put(
        "/blobs/{digest}",
        tags=["artifacts"],
        summary="upload a blob by its SHA-256",
        dependencies=[guard.requires("editor", "put_blob")],
    )
    async def put_blob(request: Request, digest: str) -> dict[str, int | str]:
        check_digest(digest)
        temp, actual, size = await _receive_file(request, spool)
        try:
            if actual != digest:
                raise IntegrityError(f"the body hashes to {actual}, not {digest}")
            blobs.put_file(temp)
        finally:
            os.unlink(temp)
        return {"digest": digest, "size": size}

    @router.get(
        "/blobs/{digest}",
        tags=["artifacts"],
        summary="download a blob (verified)",
        dependencies=[guard.requires("viewer", "get_blob")],
    )
    def get_blob(digest: str) -> FileResponse:
        return send_blob(check_digest(digest))

    @router.head(
        "/blobs/{digest}",
        tags=["artifacts"],
        summary="whether a blob is stored",
        dependencies=[guard.requires("viewer", "head_blob")],
    )
    def head_blob(digest: str) -> Response:
        return Response(status_code=200 if blobs.exists(check_digest(digest)) else 404)

    @router.get(
        "/runs/{run_id}/artifacts",
        tags=["artifacts"],
        summary="list a run's artifacts",
        dependencies=[guard.requires("viewer", "list_artifacts")],
    )
    def list_run_artifacts(run_id: Segment, prefix: str | None = None) -> list[ArtifactRef]:
        return store.list_artifacts("run", run_id, prefix)

    @router.put(
        "/runs/{run_id}/artifacts/{path:path}",
        tags=["artifacts"],
        summary="upload a run artifact",
        dependencies=[guard.requires("editor", "put_run_artifact")],
    )
    async def put_run_artifact(request: Request, run_id: Segment, path: str) -> ArtifactRef:
        name = _artifact_name(path)
        store.get_run(run_id)  # NotFound before reading the body
        digest, size = await store_upload(request)
        ref = ArtifactRef(name, digest, size)
        store.record_artifacts("run", run_id, [ref])
        return ref

    @router.get(
        "/runs/{run_id}/artifacts/{path:path}",
        tags=["artifacts"],
        summary="download a run artifact",
        dependencies=[guard.requires("viewer", "get_run_artifact")],
    )
    def get_run_artifact(run_id: Segment, path: str) -> FileResponse:
        ref = store.get_artifact("run", run_id, _artifact_name(path))
        return send_blob(ref.digest, ref.path.rsplit("/", 1)[-1])

    @router.get(
        "/models/{name}/versions/{version}/artifacts",
        tags=["artifacts"],
        summary="list a version's files",
        dependencies=[guard.requires("viewer", "list_artifacts")],
    )
    def list_version_artifacts(name: Segment, version: int, prefix: str | None = None) -> list[ArtifactRef]:
        owner = f"{validate_name(name, 'model name')}/{validate_version(version)}"
        return store.list_artifacts("model_version", owner, prefix)

    @router.get(
        "/models/{name}/versions/{version}/artifacts/{path:path}",
        tags=["artifacts"],
        summary="download a model version's file",
        dependencies=[guard.requires("viewer", "get_version_artifact")],
    )
    def get_version_artifact(name: Segment, version: int, path: str) -> FileResponse:
        owner = f"{validate_name(name, 'model name')}/{validate_version(version)}"
        ref = store.get_artifact("model_version", owner, _artifact_name(path))
        return send_blob(ref.digest, ref.path.rsplit("/", 1)[-1])

    @router.post(
        "/admin/gc",
        tags=["lifecycle"],
        summary="purge deleted records and unreferenced blobs",
        dependencies=[guard.requires("admin", "gc")],
    )
    def gc(
        grace_seconds: float = 3600.0,
        predictions_older_than_ms: int | None = None,
        compact_predictions_ms: int | None = None,
        label_horizon_ms: int | None = None,
        deleted_older_than_ms: int | None = None,
    ) -> GcReport:
        from loopwright.tracking.client import collect_garbage

        return collect_garbage(
            store,
            blobs,
            grace_seconds,
            predictions_older_than_ms=predictions_older_than_ms,
            compact_predictions_ms=compact_predictions_ms,
            label_horizon_ms=label_horizon_ms,
            deleted_older_than_ms=deleted_older_than_ms,
        )

    return router
