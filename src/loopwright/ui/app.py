"""Mounts the UI on the platform server: its pages at ``/``, its assets at ``/static/``.

Each concept is one module with one ``APIRouter`` factory (``tracking``: experiments, runs, compare;
``registry``: models, versions, aliases, audit, lineage; ``operations``: pipelines, deployments,
monitoring, the loop; ``session``: sign-in, the session cookie and CSRF); this module only wires them.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from starlette.responses import RedirectResponse
from starlette.staticfiles import StaticFiles

from loopwright.ui.operations import operations_router
from loopwright.ui.registry import registry_router
from loopwright.ui.session import session_router
from loopwright.ui.tracking import tracking_router

STATIC = Path(__file__).resolve().parent / "static"


def mount_ui(app: FastAPI) -> None:
    """Add the UI to the server ``app`` (its state holds the store, blobs and guard)."""
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.include_router(session_router())
    app.include_router(tracking_router())
    app.include_router(registry_router())
    app.include_router(operations_router())

    @app.get("/", include_in_schema=False)
    def home() -> RedirectResponse:
        return RedirectResponse("/experiments", status_code=303)
