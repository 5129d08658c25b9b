"""What one ``loopwright server`` process is configured with (the CLI's flags, the app's state).

Examples
--------
>>> config = ServerConfig("sqlite:////tmp/lw.db", "/tmp/artifacts")
>>> config.auth, config.max_body_bytes
(False, 33554432)
"""

from __future__ import annotations

from dataclasses import dataclass

MIB = 1 << 20


@dataclass(frozen=True)
class ServerConfig:
    """Where the server keeps metadata and blobs, and how it guards its doors.

    Parameters
    ----------
    store_uri, artifact_uri:
        The SQL store (``sqlite:///…``, ``postgresql+psycopg://…``) and blob root the server owns;
        clients reach both through it only.
    auth:
        Every route needs a bearer token issued by ``loopwright tokens create`` and checks its role.
    max_body_bytes, max_upload_bytes:
        The largest JSON request body, and the largest artifact upload (streamed to disk).
    """

    store_uri: str
    artifact_uri: str
    auth: bool = False
    max_body_bytes: int = 32 * MIB
    max_upload_bytes: int = 4096 * MIB
