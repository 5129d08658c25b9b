"""The platform server's ASGI app: the Store under ``/api/v1``, probes, metrics; ``/`` is the UI's.

Stateless over its SQL store and blob root, so several processes (``--workers``) or several hosts
on one PostgreSQL and one bucket serve one team; clients fail over between them (``RestStore``).

Examples
--------
>>> import tempfile
>>> from starlette.testclient import TestClient
>>> home = tempfile.mkdtemp()
>>> app = create_app(ServerConfig(f"sqlite:///{home}/lw.db", f"{home}/artifacts"))
>>> with TestClient(app) as http:
...     http.get("/readyz").json()["status"]
'ready'
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import sqlalchemy as sa
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

from loopwright import __version__
from loopwright.artifacts import BlobStore
from loopwright.auth import hash_token
from loopwright.errors import NotFound
from loopwright.server.artifacts import artifact_router
from loopwright.server.config import ServerConfig
from loopwright.server.errors import install_error_handlers
from loopwright.server.limits import BodyLimitMiddleware
from loopwright.server.metrics import MetricsMiddleware, ServerMetrics
from loopwright.server.security import Guard, bearer_token
from loopwright.server.store_api import store_router
from loopwright.store.entities import ApiToken
from loopwright.store.routes import API_PREFIX
from loopwright.store.sql import SqlStore
from loopwright.ui import mount_ui

log = logging.getLogger("loopwright.server")


def create_app(config: ServerConfig) -> FastAPI:
    """Build the server for ``config`` (the store is opened, and migrated, here)."""
    store = SqlStore(config.store_uri)
    blobs = BlobStore(config.artifact_uri)
    spool = tempfile.mkdtemp(prefix="loopwright-server-")
    guard = Guard(store, enabled=config.auth)
    metrics = ServerMetrics()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        store.close()

    app = FastAPI(
        title="Loopwright",
        version=__version__,
        summary="The platform API: tracking, registry, lineage, pipelines, monitoring and the loop.",
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=f"{API_PREFIX}/docs",
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.store = store
    app.state.guard = guard
    app.state.blobs = blobs
    app.state.config = config
    install_error_handlers(app)
    app.include_router(store_router(store, guard, metrics))
    app.include_router(artifact_router(store, blobs, guard, spool))
    # here: compat imports server modules
    from loopwright.compat.mlflow.protocol import MlflowLane
    from loopwright.compat.mlflow.rest import mlflow_router

    mlflow = mlflow_router(store, blobs, guard, spool)  # MLflow's REST API, translated
    app.include_router(mlflow)

    @app.get(f"{API_PREFIX}/whoami", tags=["tokens"], summary="the bearer token's own record")
    def whoami(request: Request) -> ApiToken:
        """Whose token this is (any role): how an inference server checks tokens this server issued."""
        principal = guard.check(request, "viewer", "whoami")
        record = store.find_token(hash_token(bearer_token(request.headers.get("authorization")) or ""))
        if principal.token_id is None or record is None:
            raise NotFound("this server runs without --auth: it issues no identities")
        return record

    mount_ui(app)  # the web UI: / and /static/

    @app.get("/healthz", tags=["probes"], summary="the process answers")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["probes"], summary="the store answers")
    def readyz() -> JSONResponse:
        try:
            with store.engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
        except sa.exc.SQLAlchemyError:
            return JSONResponse({"status": "unavailable", "store": "unreachable"}, status_code=503)
        return JSONResponse({"status": "ready", "store": "ok"})

    @app.get("/metrics", tags=["probes"], summary="Prometheus metrics", include_in_schema=False)
    def prometheus(request: Request) -> Response:
        guard.check(request, "viewer", "metrics")
        body, content_type = metrics.render()
        return Response(body, media_type=content_type)

    app.add_middleware(MlflowLane, endpoints=mlflow.endpoints)  # inside the limits and the metrics
    app.add_middleware(
        BodyLimitMiddleware, max_body_bytes=config.max_body_bytes, max_upload_bytes=config.max_upload_bytes
    )
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    log.info(
        "loopwright server %s on store %s, artifacts %s, auth %s (pid %d)",
        __version__,
        store,
        blobs.root,
        "on" if config.auth else "off",
        os.getpid(),
    )
    return app
