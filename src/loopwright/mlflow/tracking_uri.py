"""``mlflow.set_tracking_uri`` mapped onto Loopwright's store URI.

- ``sqlite:///path.db`` → that SQLite file as Loopwright's store (artifacts in ``artifacts/`` beside
  it unless ``LOOPWRIGHT_ARTIFACT_URI`` is set); a file that already holds an *MLflow* database is
  refused, pointing at ``loopwright import mlflow`` (Loopwright's migrations must not touch it).
- ``postgresql://…`` (MLflow's psycopg2 spelling) → ``postgresql+psycopg://…``.
- ``http(s)://host:port`` → a ``loopwright server`` there (its own REST API, not MLflow's).
- ``file:///dir``, ``./mlruns`` or any plain folder → a Loopwright home in that folder
  (``loopwright.db`` + ``artifacts/``); a folder holding an MLflow file store is refused likewise.
- ``databricks`` and other schemes raise :class:`~loopwright.mlflow.exceptions.Unsupported`.

The choice is written to ``LOOPWRIGHT_STORE_URI`` / ``LOOPWRIGHT_ARTIFACT_URI`` in ``os.environ`` (as MLflow
writes ``MLFLOW_TRACKING_URI``), so child processes follow it.

Examples
--------
>>> store_and_artifacts("postgresql://ana@db:5432/ml", {})
('postgresql+psycopg://ana@db:5432/ml', None)
>>> store_and_artifacts("sqlite:////data/ml.db", {})
('sqlite:////data/ml.db', '/data/artifacts')
>>> store_and_artifacts("file:///data/mlruns", {})
('sqlite:////data/mlruns/loopwright.db', '/data/mlruns/artifacts')
>>> store_and_artifacts("databricks", {})
Traceback (most recent call last):
...
loopwright.mlflow.exceptions.Unsupported: mlflow.set_tracking_uri('databricks') is not supported by loopwright.mlflow; use a sqlite:///, postgresql:// or http(s):// URI, or a local folder
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Mapping
from pathlib import Path

from loopwright.config import get_settings
from loopwright.mlflow.exceptions import Unsupported

_MLFLOW_TABLES = {"latest_metrics", "registered_models", "experiment_tags"}


def _refuse_mlflow_sqlite(path: Path, uri: str) -> None:
    if not path.is_file():
        return
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
            names = {row[0] for row in conn.execute("select name from sqlite_master where type='table'")}
    except sqlite3.DatabaseError:
        return  # not a database at all: the store says so in its own words
    if names >= _MLFLOW_TABLES:
        raise Unsupported(
            f"mlflow.set_tracking_uri({uri!r}) on an MLflow database",
            f"`loopwright import mlflow --tracking-uri {uri}` to copy it into a Loopwright store",
        )


def store_and_artifacts(uri: str, environ: Mapping[str, str]) -> tuple[str, str | None]:
    """The Loopwright store URI and artifact root (``None``: keep the current one) for an MLflow URI."""
    uri = str(uri)
    if uri.startswith(("http://", "https://")):
        return uri.rstrip("/"), None
    if uri.startswith("postgresql://") or uri.startswith("postgres://"):
        return "postgresql+psycopg://" + uri.split("://", 1)[1], None
    if uri.startswith("postgresql+"):
        return uri, None
    if uri.startswith("sqlite:///"):
        path = Path(uri[len("sqlite:///") :])
        _refuse_mlflow_sqlite(path, uri)
        artifacts = environ.get("LOOPWRIGHT_ARTIFACT_URI") or str(path.parent / "artifacts")
        return uri, artifacts
    if ("://" in uri and not uri.startswith("file://")) or uri.startswith(("databricks", "uc:")):
        raise Unsupported(
            f"mlflow.set_tracking_uri({uri!r})",
            "a sqlite:///, postgresql:// or http(s):// URI, or a local folder",
        )
    folder = Path(uri[len("file://") :] if uri.startswith("file://") else uri).absolute()
    if any(folder.glob("*/meta.yaml")):
        raise Unsupported(
            f"mlflow.set_tracking_uri({uri!r}) on an MLflow file store",
            f"`loopwright import mlflow --tracking-uri {uri}` to copy it into a Loopwright store",
        )
    return f"sqlite:///{folder / 'loopwright.db'}", str(folder / "artifacts")


def set_tracking_uri(uri: str | os.PathLike[str]) -> None:
    """Point every following call (and child process) at the Loopwright store this MLflow URI names.

    Examples
    --------
    >>> import os, tempfile, loopwright.mlflow as mlflow
    >>> folder = tempfile.mkdtemp()
    >>> mlflow.set_tracking_uri(f"sqlite:///{folder}/ml.db")
    >>> mlflow.get_tracking_uri() == f"sqlite:///{folder}/ml.db"
    True
    >>> for key in ("LOOPWRIGHT_STORE_URI", "LOOPWRIGHT_ARTIFACT_URI"):
    ...     del os.environ[key]
    """
    text = os.fspath(uri)
    store, artifacts = store_and_artifacts(text, os.environ)
    if store.startswith("sqlite:///"):
        Path(store[len("sqlite:///") :]).parent.mkdir(parents=True, exist_ok=True)
    os.environ["LOOPWRIGHT_STORE_URI"] = store
    if artifacts is not None:
        os.environ["LOOPWRIGHT_ARTIFACT_URI"] = artifacts


def get_tracking_uri() -> str:
    """The Loopwright store URI every call uses now (``LOOPWRIGHT_STORE_URI`` or the home's SQLite file).

    Examples
    --------
    >>> import loopwright.mlflow as mlflow
    >>> mlflow.get_tracking_uri().split(":")[0] in ("sqlite", "postgresql+psycopg", "http", "https")
    True
    """
    return get_settings().store_uri
