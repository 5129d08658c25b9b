"""``loopwright server``: the platform server (mirrors ``loopwright.server.run_server``)."""

from __future__ import annotations

import typer

from loopwright.config import get_settings


def server(
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on (loopback unless --auth)."),
    port: int = typer.Option(5000, "--port", "-p", help="Port to listen on."),
    store_uri: str = typer.Option(
        None, "--store-uri", help="sqlite:///… or postgresql+psycopg://… (default: $LOOPWRIGHT_STORE_URI)."
    ),
    artifact_uri: str = typer.Option(
        None, "--artifact-uri", help="Folder, s3://… (default: $LOOPWRIGHT_ARTIFACT_URI)."
    ),
    workers: int = typer.Option(1, "--workers", "-w", help="Worker processes."),
    auth: bool = typer.Option(
        False, "--auth", help="Every request needs a token from `loopwright tokens create`; roles apply."
    ),
    insecure_no_auth: bool = typer.Option(
        False,
        "--insecure-no-auth",
        help="Listen on a non-loopback interface without --auth (anyone is admin).",
    ),
    max_body_mb: float = typer.Option(32.0, "--max-body-mb", help="Larger JSON request bodies get 413."),
    max_upload_mb: float = typer.Option(4096.0, "--max-upload-mb", help="Larger artifact uploads get 413."),
) -> None:
    """The platform server: the whole store over a REST API for a team (tokens, roles, HA).

    The API lives under /api/v1 (OpenAPI document at /api/v1/openapi.json); /healthz, /readyz, /metrics.
    """
    from loopwright.server import ServerConfig, run_server

    settings = get_settings()
    store = store_uri or settings.store_uri
    if store.startswith(("http://", "https://")):
        raise typer.BadParameter("the server needs a SQL store (sqlite:///… or postgresql+psycopg://…)")
    config = ServerConfig(
        store,
        artifact_uri or settings.artifact_uri,
        auth=auth,
        max_body_bytes=int(max_body_mb * (1 << 20)),
        max_upload_bytes=int(max_upload_mb * (1 << 20)),
    )
    run_server(config, host, port, workers, insecure_no_auth=insecure_no_auth)
