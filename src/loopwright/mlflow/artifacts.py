"""``mlflow.artifacts``: ``download_artifacts``, ``load_text``, ``load_dict`` for ``runs:/RUN_ID/path`` URIs.

Examples
--------
>>> import os, tempfile, loopwright as lw, loopwright.mlflow as mlflow
>>> os.environ["LOOPWRIGHT_HOME"] = tempfile.mkdtemp()
>>> with mlflow.start_run() as run:
...     mlflow.log_text("hello", "notes/a.txt")
>>> path = download_artifacts(artifact_uri=f"runs:/{run.info.run_id}/notes/a.txt")
>>> open(path).read(), load_text(f"{run.info.artifact_uri}/notes/a.txt")
('hello', 'hello')
>>> del os.environ["LOOPWRIGHT_HOME"]; lw.reset_clients()
"""

from __future__ import annotations

from typing import Any

from loopwright.mlflow.exceptions import Unsupported
from loopwright.tracking.client import get_client


def _split(uri: str) -> tuple[str, str]:
    if not uri.startswith("runs:/"):
        raise Unsupported(f"mlflow.artifacts for {uri!r}", "a runs:/RUN_ID/path URI (run.info.artifact_uri)")
    run_id, _, path = uri[len("runs:/") :].strip("/").partition("/")
    return run_id, path


def download_artifacts(
    artifact_uri: str | None = None,
    run_id: str | None = None,
    artifact_path: str | None = None,
    dst_path: str | None = None,
    tracking_uri: str | None = None,
) -> str:
    """Copy a run's artifacts (a file or a folder) into ``dst_path`` (a new temp folder by default)."""
    if tracking_uri is not None:
        raise Unsupported("download_artifacts(tracking_uri=)", "mlflow.set_tracking_uri first")
    if artifact_uri is not None:
        run_id, artifact_path = _split(artifact_uri)
    if run_id is None:
        raise Unsupported("download_artifacts() without a run", "artifact_uri='runs:/RUN_ID/path' or run_id=")
    from loopwright.mlflow.client import MlflowClient

    return MlflowClient().download_artifacts(run_id, artifact_path or "", dst_path)


def load_text(artifact_uri: str) -> str:
    run_id, path = _split(artifact_uri)
    return get_client().load_text(run_id, path)


def load_dict(artifact_uri: str) -> Any:
    run_id, path = _split(artifact_uri)
    return get_client().load_dict(run_id, path)
