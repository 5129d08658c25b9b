"""The platform server: the whole Store over a versioned REST API, tokens and roles, probes and metrics.

``loopwright server`` runs it; ``LOOPWRIGHT_STORE_URI=http://host:port`` makes every client use it
through :class:`~loopwright.store.rest.RestStore`.
"""

from loopwright.server.app import create_app
from loopwright.server.config import ServerConfig
from loopwright.server.run import run_server

__all__ = ["ServerConfig", "create_app", "run_server"]
