"""Metadata persistence behind one interface; the URI picks the implementation.

Examples
--------
>>> import tempfile
>>> store = open_store(f"sqlite:///{tempfile.mkdtemp()}/lw.db")
>>> type(store).__name__
'SqlStore'
>>> store.close()
>>> mask_password("postgresql+psycopg://ml:s3cret@db.internal/lw")
'postgresql+psycopg://ml:***@db.internal/lw'
"""

from __future__ import annotations

from loopwright.errors import InvalidInput
from loopwright.store.entities import (
    ArtifactRef,
    AuditEntry,
    DatasetInput,
    Experiment,
    FeedbackRecord,
    GcReport,
    LineageEdge,
    MetricPoint,
    ModelVersion,
    PredictionLogFile,
    RegisteredModel,
    Run,
    RunStatus,
)
from loopwright.store.interface import Store


def mask_password(uri: str) -> str:
    """``uri`` as error messages and logs show it: any password replaced by ``***``.

    The password runs to the last '@', so one holding an unencoded '@' or '/' is masked whole.
    """
    scheme, separator, rest = uri.partition("://")
    if not separator:
        scheme, rest = "", uri
    user, colon, after = rest.partition(":")
    if not colon or "@" not in after or "/" in user or "@" in user:
        return uri
    return f"{scheme}{separator}{user}:***@{after.rsplit('@', 1)[1]}"


def open_store(uri: str) -> Store:
    """Open the store a URI names: ``sqlite:///…``, ``postgresql+psycopg://…``, or a
    ``loopwright server`` at ``http(s)://host:port[,http(s)://host2:port]``."""
    if uri.startswith(("sqlite:", "postgresql")):
        from loopwright.store.sql import SqlStore

        return SqlStore(uri)
    if uri.startswith(("http://", "https://")):
        from loopwright.store.rest import RestStore

        return RestStore(uri)
    where = mask_password(uri)
    raise InvalidInput(
        f"unsupported store URI {where!r}: use sqlite:///PATH, postgresql+psycopg://USER@HOST/DB "
        "or http(s)://HOST:PORT (a loopwright server)"
    )


__all__ = [
    "ArtifactRef",
    "AuditEntry",
    "DatasetInput",
    "Experiment",
    "FeedbackRecord",
    "GcReport",
    "LineageEdge",
    "MetricPoint",
    "ModelVersion",
    "PredictionLogFile",
    "RegisteredModel",
    "Run",
    "RunStatus",
    "Store",
    "mask_password",
    "open_store",
]
