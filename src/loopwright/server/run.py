"""``run_server``: the platform server on uvicorn, one process or several (``--workers``).

Without ``auth`` it listens on loopback only: another interface is refused unless the caller says
``insecure_no_auth`` (anyone who can reach it could then act as admin).

Examples
--------
>>> check_bind("0.0.0.0", auth=False, insecure_no_auth=False)
Traceback (most recent call last):
...
loopwright.errors.InvalidInput: refusing to listen on 0.0.0.0 without --auth: anyone reaching it would be admin; add --auth (and create a token with `loopwright tokens create --role admin`), or --insecure-no-auth
>>> check_bind("127.0.0.1", auth=False, insecure_no_auth=False)
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from dataclasses import asdict

import uvicorn

from loopwright.errors import InvalidInput
from loopwright.server.app import create_app
from loopwright.server.config import ServerConfig
from loopwright.serving.server import is_loopback

# how the parent hands its configuration to uvicorn's worker processes (not a user setting)
_CONFIG_VARIABLE = "_LOOPWRIGHT_SERVER_CONFIG"


def check_bind(host: str, *, auth: bool, insecure_no_auth: bool) -> None:
    if not auth and not insecure_no_auth and not is_loopback(host):
        raise InvalidInput(
            f"refusing to listen on {host} without --auth: anyone reaching it would be admin; add --auth "
            "(and create a token with `loopwright tokens create --role admin`), or --insecure-no-auth"
        )


def app_from_environment() -> object:
    """The app of one worker process, configured by its parent (uvicorn's ``factory``)."""
    return create_app(ServerConfig(**json.loads(os.environ[_CONFIG_VARIABLE])))


def run_server(
    config: ServerConfig,
    host: str = "127.0.0.1",
    port: int = 5000,
    workers: int = 1,
    insecure_no_auth: bool = False,
) -> None:
    """Serve until interrupted."""
    check_bind(host, auth=config.auth, insecure_no_auth=insecure_no_auth)
    if workers < 1:
        raise InvalidInput("workers must be at least 1")
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    common = {"host": host, "port": port, "log_level": "warning", "timeout_keep_alive": 30}
    if workers == 1:
        uvicorn.run(create_app(config), **common)  # type: ignore[arg-type]
        return
    create_app(config)  # migrate and check the store once, before the workers start
    os.environ[_CONFIG_VARIABLE] = json.dumps(asdict(config))
    # every worker writes its metrics to files here and /metrics (whichever worker answers) sums them
    created = "PROMETHEUS_MULTIPROC_DIR" not in os.environ
    if created:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="loopwright-metrics-")
    try:
        uvicorn.run(
            "loopwright.server.run:app_from_environment",
            factory=True,
            workers=workers,
            **common,  # type: ignore[arg-type]
        )
    finally:
        if created:
            shutil.rmtree(os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)
