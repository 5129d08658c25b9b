"""Metadata persistence behind one interface; the URI picks the implementation.

Examples
--------
>>> import tempfile
>>> store = open_store(f"sqlite:///{tempfile.mkdtemp()}/lw.db")
>>> type(store).__name__
'SqlStore'
>>> store.close()
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


def open_store(uri: str) -> Store:
    """Open the store a URI names: ``sqlite:///…``, ``postgresql+psycopg://…`` (``http(s)://`` later)."""
    if uri.startswith(("sqlite:", "postgresql")):
        from loopwright.store.sql import SqlStore

        return SqlStore(uri)
    raise InvalidInput(
        f"unsupported store URI {uri!r}: use sqlite:///PATH or postgresql+psycopg://USER@HOST/DB"
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
    "open_store",
]
