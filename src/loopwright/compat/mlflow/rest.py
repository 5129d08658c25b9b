"""MLflow's REST API on ``loopwright server``: one router that an unmodified MLflow client talks to.

``mlflow.set_tracking_uri("http://HOST:PORT")`` (and ``MLFLOW_TRACKING_TOKEN`` with ``--auth``) is all
a client needs. The router translates; it owns no data: tracking (:mod:`.tracking`), the registry
(:mod:`.registry`), MLflow 3's logged models (:mod:`.logged_models`) and the artifact proxy (:mod:`.artifacts`) call the server's own SqlStore and blob
store, with the server's Guard checking the role the same Store call needs under ``/api/v1``. Any
other ``/api/2.0/mlflow/…`` path answers MLflow's ``ENDPOINT_NOT_FOUND`` naming it.

Examples
--------
>>> import tempfile
>>> from fastapi import FastAPI
>>> from starlette.testclient import TestClient
>>> from loopwright.artifacts import BlobStore
>>> from loopwright.server.security import Guard
>>> from loopwright.store.sql import SqlStore
>>> home = tempfile.mkdtemp()
>>> store = SqlStore(f"sqlite:///{home}/lw.db")
>>> app = FastAPI()
>>> app.include_router(mlflow_router(store, BlobStore(f"{home}/blobs"), Guard(store, enabled=False), home))
>>> answer = TestClient(app).post("/api/2.0/mlflow/traces/start", json={})
>>> answer.status_code, answer.json()["error_code"]
(404, 'ENDPOINT_NOT_FOUND')
"""

from __future__ import annotations

from loopwright.artifacts import BlobStore
from loopwright.server.security import Guard
from loopwright.store.sql import SqlStore

from .artifacts import artifacts_router
from .logged_models import logged_models_router
from .protocol import MlflowRouter, unsupported
from .registry import registry_router
from .tracking import tracking_router


def mlflow_router(store: SqlStore, blobs: BlobStore, guard: Guard, spool: str) -> MlflowRouter:
    """Every MLflow endpoint Loopwright answers, then the catch-all naming the ones it does not.

    Its ``endpoints`` (the fixed paths) are what :class:`~.protocol.MlflowLane` answers ahead of the
    app's router."""
    router = MlflowRouter()
    router.include(tracking_router(store, guard))
    router.include(registry_router(store, guard))
    router.include(logged_models_router(store, guard))
    router.include(artifacts_router(store, blobs, guard, spool))
    unsupported(router)
    return router
