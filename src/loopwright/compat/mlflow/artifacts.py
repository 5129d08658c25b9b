"""MLflow's artifact proxy (``/api/2.0/mlflow-artifacts/artifacts/…``) over Loopwright's artifact records.

A run's ``artifact_uri`` is ``mlflow-artifacts:/runs/RUN_ID``, so an MLflow client uploads
``runs/RUN_ID/FILE`` here: the file is streamed to a temporary file, stored as a content-addressed blob
and recorded as the run's artifact ``FILE`` — the same record ``lw.log_artifact`` writes. Model
versions' files are read under ``models/NAME/versions/V/…``. Folders are prefixes of artifact names;
listing answers MLflow's ``{"files": [{"path", "is_dir", "file_size"}]}`` with names relative to the
listed folder. Deleting artifacts is refused (Loopwright's garbage collector owns blob lifetimes).

Examples
--------
>>> from loopwright.store import ArtifactRef
>>> refs = [ArtifactRef("model/MLmodel", "a" * 64, 10), ArtifactRef("model/data/x.pkl", "b" * 64, 5)]
>>> folder_listing(refs, "model")
[{'path': 'MLmodel', 'is_dir': False, 'file_size': 10}, {'path': 'data', 'is_dir': True}]
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path as FsPath
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, JSONResponse
from starlette.background import BackgroundTask

from loopwright.artifacts import BlobStore
from loopwright.errors import InvalidInput, LoopwrightError
from loopwright.server.artifacts import _receive_file, served_artifact_path
from loopwright.server.security import Guard
from loopwright.store import ArtifactRef
from loopwright.store.sql import SqlStore

from .protocol import PREFIXES, error_response, guarded_call, mlflow_error, not_implemented, str_field
from .translate import artifact_owner, run_artifact_uri

ARTIFACT_PREFIXES = ("/api/2.0/mlflow-artifacts/artifacts", "/ajax-api/2.0/mlflow-artifacts/artifacts")


def folder_listing(refs: Sequence[ArtifactRef], folder: str) -> list[dict[str, Any]]:
    """The direct children of ``folder`` among ``refs`` (files with sizes, then sub-folders)."""
    base = f"{folder.strip('/')}/" if folder.strip("/") else ""
    files: list[dict[str, Any]] = []
    folders: dict[str, None] = {}
    for ref in refs:
        if not ref.path.startswith(base):
            continue
        head, slash, _ = ref.path[len(base) :].partition("/")
        if slash:
            folders.setdefault(head)
        else:
            files.append({"path": head, "is_dir": False, "file_size": ref.size})
    return files + [{"path": name, "is_dir": True} for name in folders]


def artifacts_router(store: SqlStore, blobs: BlobStore, guard: Guard, spool: str) -> APIRouter:
    """The proxy's upload, download and list routes, plus the tracking API's ``artifacts/list``."""
    router = APIRouter()

    def owner_of(path: str, *, upload: bool = False) -> tuple[str, str, str]:
        owner_type, owner_id, name = artifact_owner(path)
        if upload and owner_type != "run":
            raise InvalidInput("MLflow clients may upload only run artifacts (runs/RUN_ID/…)")
        return owner_type, owner_id, name

    def listing(request: Request, path: str) -> dict[str, Any]:
        guard.check(request, "viewer", "mlflow list_artifacts")
        owner_type, owner_id, folder = owner_of(path)
        folder = served_artifact_path(folder) if folder else folder  # no "..", escapes, …
        if owner_type == "run":
            store.get_run(owner_id)  # NotFound for an unknown run, not an empty listing
        refs = store.list_artifacts(owner_type, owner_id, folder or None)
        exact = [ref for ref in refs if ref.path == folder]
        if exact:  # MLflow lists a file as itself
            return {
                "files": [{"path": folder.rsplit("/", 1)[-1], "is_dir": False, "file_size": exact[0].size}]
            }
        return {"files": folder_listing(refs, folder)}

    def list_query(request: Request) -> Response:
        path = str_field(dict(request.query_params), "path", required=False)
        return guarded_call(request, lambda: JSONResponse(listing(request, path)))

    def download(request: Request, path: str) -> Response:
        def call() -> Response:
            guard.check(request, "viewer", "mlflow get_artifact")
            owner_type, owner_id, name = owner_of(path)
            ref = store.get_artifact(owner_type, owner_id, served_artifact_path(name))
            copy = blobs.get_file(ref.digest, FsPath(spool) / f"mlflow-{os.urandom(8).hex()}")
            return FileResponse(
                copy,
                media_type="application/octet-stream",
                background=BackgroundTask(copy.unlink, missing_ok=True),
            )

        return guarded_call(request, call)

    async def upload(request: Request, path: str) -> Response:
        try:
            await run_in_threadpool(guard.check, request, "editor", "mlflow put_artifact")
            _, run_id, name = owner_of(path, upload=True)
            name = served_artifact_path(name)
            await run_in_threadpool(store.get_run, run_id)  # NotFound before reading the body
        except LoopwrightError as error:
            return error_response(*mlflow_error(error))
        temp, digest, size = await _receive_file(request, spool)

        def record() -> Response:
            try:
                blobs.put_file(temp)
            finally:
                os.unlink(temp)
            store.record_artifacts("run", run_id, [ArtifactRef(name, digest, size)])
            return JSONResponse({})

        return await run_in_threadpool(guarded_call, request, record)

    def refuse_delete(request: Request, path: str) -> Response:
        def call() -> Response:
            guard.check(request, "editor", "mlflow delete_artifact")
            raise not_implemented("mlflow-artifacts DELETE", "Loopwright's gc removes unreferenced blobs")

        return guarded_call(request, call)

    def list_run_artifacts(request: Request) -> Response:
        """The tracking API's ``artifacts/list``: paths relative to the run's root."""

        def call() -> Response:
            fields = dict(request.query_params)
            run_id = str_field(fields, "run_id", required=False) or str_field(fields, "run_uuid")
            folder = str_field(fields, "path", required=False).strip("/")
            files = listing(request, f"runs/{run_id}/{folder}".rstrip("/"))["files"]
            for item in files:
                item["path"] = f"{folder}/{item['path']}" if folder else item["path"]
            return JSONResponse({"root_uri": run_artifact_uri(run_id), "files": files})

        return guarded_call(request, call)

    for prefix in ARTIFACT_PREFIXES:
        router.add_api_route(prefix, list_query, methods=["GET"], include_in_schema=False)
        router.add_api_route(prefix + "/{path:path}", download, methods=["GET"], include_in_schema=False)
        router.add_api_route(prefix + "/{path:path}", upload, methods=["PUT"], include_in_schema=False)
        router.add_api_route(
            prefix + "/{path:path}", refuse_delete, methods=["DELETE"], include_in_schema=False
        )
    for prefix in PREFIXES:
        router.add_api_route(
            prefix + "/artifacts/list", list_run_artifacts, methods=["GET"], include_in_schema=False
        )
    return router
