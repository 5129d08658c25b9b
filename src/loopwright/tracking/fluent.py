"""The MLflow-shaped module-level API: an active experiment and a per-thread stack of active runs.

Examples
--------
>>> import loopwright as lw, tempfile, os
>>> os.environ["LOOPWRIGHT_HOME"] = tempfile.mkdtemp()
>>> _ = lw.set_experiment("doctest")
>>> with lw.start_run(name="baseline") as run:
...     lw.log_param("C", 1.0)
...     lw.log_metric("auc", 0.91)
>>> lw.get_run(run.id).metrics["auc"], lw.get_run(run.id).status
(0.91, 'finished')
>>> del os.environ["LOOPWRIGHT_HOME"]; lw.reset_clients()
"""

from __future__ import annotations

import os
import threading
import traceback
from collections.abc import Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, overload

import pandas as pd

from loopwright.errors import Conflict
from loopwright.store import ArtifactRef, DatasetInput, Experiment, GcReport, MetricPoint, Run
from loopwright.tracking.abandoned import AbandonedRun
from loopwright.tracking.client import DEFAULT_EXPERIMENT, Client, _reset_hooks, get_client


class _State(threading.local):
    def __init__(self) -> None:
        self.stack: list[ActiveRun] = []


_state = _State()
_experiment_name: str | None = None


class ActiveRun:
    """The run a ``with lw.start_run()`` block writes to; reads through to the :class:`Run`.

    Leaving the block ends the run: ``finished``, or ``failed`` with the error if it raised.
    """

    def __init__(self, run: Run, client: Client):
        self._run = run
        self.client = client

    @property
    def id(self) -> str:
        return self._run.id

    def __getattr__(self, name: str) -> Any:
        return getattr(self._run, name)

    def __repr__(self) -> str:
        return f"ActiveRun(id={self.id!r}, name={self._run.name!r})"

    def __enter__(self) -> ActiveRun:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc is None:
            end_run("finished", run_id=self.id)
        else:
            summary = "".join(traceback.format_exception_only(exc_type, exc)).strip()
            end_run("failed", error=summary, run_id=self.id)


def set_experiment(name: str) -> Experiment:
    """Make ``name`` the experiment new runs go to, creating it if needed."""
    global _experiment_name
    experiment = get_client().get_or_create_experiment(name)
    _experiment_name = name
    return experiment


def _forget_experiment() -> None:
    global _experiment_name
    _experiment_name = None


_reset_hooks.append(_forget_experiment)  # lw.reset_clients() forgets the chosen experiment too


def chosen_experiment() -> str | None:
    """The experiment :func:`set_experiment` chose in this process, or ``None``."""
    return _experiment_name


def active_run() -> ActiveRun | None:
    """The innermost active run of this thread, or ``None``."""
    return _state.stack[-1] if _state.stack else None


def _current() -> ActiveRun:
    run = active_run()
    if run is None:
        raise Conflict("no active run: call lw.start_run() first")
    return run


def start_run(
    name: str | None = None,
    tags: Mapping[str, Any] | None = None,
    nested: bool = False,
    run_id: str | None = None,
    experiment: str | None = None,
    parent_id: str | None = None,
    client: Client | None = None,
) -> ActiveRun:
    """Start a run (or resume ``run_id``) and make it active; use it as a context manager.

    Parameters
    ----------
    name, tags:
        The run's display name and tags.
    nested:
        Start a child of the currently active run. Without it, starting a run while another is
        active is an error, as in MLflow.
    run_id:
        Resume an existing run instead of creating one.
    experiment:
        Experiment name; defaults to the one :func:`set_experiment` chose, else ``Default``.
    parent_id:
        Explicit parent run id (for runs started in worker processes).
    client:
        The store the run is recorded in (the run's metrics, artifacts and models follow it);
        default: the environment's (``lw.get_client()``).
    """
    client = client if client is not None else get_client()
    parent = active_run()
    if parent is not None and not nested and parent_id is None:
        raise Conflict(f"run {parent.id!r} is already active: end it first or pass nested=True")
    if run_id is not None:
        run = client.resume_run(run_id)
    else:
        if parent_id is None and nested and parent is not None:
            parent_id = parent.id
        run = client.create_run(
            experiment or _experiment_name or DEFAULT_EXPERIMENT, name=name, tags=tags, parent_id=parent_id
        )
    active = ActiveRun(run, client)
    _state.stack.append(active)
    return active


def end_run(
    status: Literal["finished", "failed"] = "finished", error: str | None = None, run_id: str | None = None
) -> None:
    """End the active run (or ``run_id``), flushing its metrics first."""
    stack = _state.stack
    target = run_id or (stack[-1].id if stack else None)
    if target is None:
        return
    for index in range(len(stack) - 1, -1, -1):
        if stack[index].id == target:
            client = stack[index].client
            del stack[index]
            break
    else:
        client = get_client()
    client.end_run(target, status, error)


def _run_id(run_id: str | None) -> tuple[Client, str]:
    if run_id is not None:
        return get_client(), run_id
    run = _current()
    return run.client, run.id


def log_param(key: str, value: Any, run_id: str | None = None) -> None:
    client, rid = _run_id(run_id)
    client.log_param(rid, key, value)


def log_params(params: Mapping[str, Any], run_id: str | None = None) -> None:
    client, rid = _run_id(run_id)
    client.log_params(rid, params)


def set_tag(key: str, value: Any, run_id: str | None = None) -> None:
    client, rid = _run_id(run_id)
    client.set_tag(rid, key, value)


def set_tags(tags: Mapping[str, Any], run_id: str | None = None) -> None:
    client, rid = _run_id(run_id)
    client.set_tags(rid, tags)


def delete_tag(key: str, run_id: str | None = None) -> None:
    """Remove the tag ``key`` from a run (default: the active run); ``NotFound`` if it has none.

    Examples
    --------
    >>> import loopwright as lw, tempfile, os
    >>> os.environ["LOOPWRIGHT_HOME"] = tempfile.mkdtemp()
    >>> with lw.start_run() as run:
    ...     lw.set_tags({"team": "risk", "draft": "yes"})
    ...     lw.delete_tag("draft")
    >>> lw.get_run(run.id).tags
    {'team': 'risk'}
    >>> del os.environ["LOOPWRIGHT_HOME"]; lw.reset_clients()
    """
    client, rid = _run_id(run_id)
    client.delete_tag(rid, key)


def log_metric(
    key: str, value: float, step: int = 0, timestamp: int | None = None, run_id: str | None = None
) -> None:
    """Log one metric point; returns at once, the write happens in the background."""
    client, rid = _run_id(run_id)
    client.log_metric(rid, key, value, step, timestamp)


def log_metrics(
    metrics: Mapping[str, float], step: int = 0, timestamp: int | None = None, run_id: str | None = None
) -> None:
    client, rid = _run_id(run_id)
    client.log_metrics(rid, metrics, step, timestamp)


def log_artifact(
    local_path: str | os.PathLike[str], artifact_path: str | None = None, run_id: str | None = None
) -> list[ArtifactRef]:
    """Store a file, or a folder and everything under it, as artifacts of the run."""
    client, rid = _run_id(run_id)
    return client.log_artifact(rid, local_path, artifact_path)


def log_artifacts(
    local_dir: str | os.PathLike[str], artifact_path: str | None = None, run_id: str | None = None
) -> list[ArtifactRef]:
    """Store the files inside ``local_dir`` (not the folder's own name) under ``artifact_path``."""
    client, rid = _run_id(run_id)
    return client.log_artifacts(rid, local_dir, artifact_path)


def log_text(text: str, artifact_path: str, run_id: str | None = None) -> ArtifactRef:
    client, rid = _run_id(run_id)
    return client.log_text(rid, text, artifact_path)


def log_dict(data: Mapping[str, Any], artifact_path: str, run_id: str | None = None) -> ArtifactRef:
    client, rid = _run_id(run_id)
    return client.log_dict(rid, data, artifact_path)


def log_dataset(
    data: Any, name: str, context: str = "input", source: str | None = None, run_id: str | None = None
) -> DatasetInput:
    """Record a dataset's fingerprint (digest, schema, row count) as a lineage input of the run."""
    client, rid = _run_id(run_id)
    return client.log_dataset(rid, data, name=name, context=context, source=source)


def flush() -> None:
    """Write every buffered metric point now."""
    get_client().flush()


def get_run(run_id: str) -> Run:
    return get_client().get_run(run_id)


def list_metric_history(run_id: str, key: str) -> list[MetricPoint]:
    return get_client().list_metric_history(run_id, key)


def get_experiment(name_or_id: str) -> Experiment:
    return get_client().get_experiment(name_or_id)


def create_experiment(name: str, tags: Mapping[str, str] | None = None) -> Experiment:
    return get_client().create_experiment(name, tags)


def list_experiments(include_deleted: bool = False) -> list[Experiment]:
    return get_client().list_experiments(include_deleted)


@overload
def search_runs(
    experiment: str | Sequence[str] | None = ...,
    filter: str | None = ...,
    order_by: Sequence[str] | str | None = ...,
    max_results: int = ...,
    output: Literal["frame"] = ...,
    include_deleted: bool = ...,
) -> pd.DataFrame: ...
@overload
def search_runs(
    experiment: str | Sequence[str] | None = ...,
    filter: str | None = ...,
    order_by: Sequence[str] | str | None = ...,
    max_results: int = ...,
    *,
    output: Literal["list"],
    include_deleted: bool = ...,
) -> list[Run]: ...
def search_runs(
    experiment: str | Sequence[str] | None = None,
    filter: str | None = None,
    order_by: Sequence[str] | str | None = None,
    max_results: int = 1000,
    output: Literal["frame", "list"] = "frame",
    include_deleted: bool = False,
) -> pd.DataFrame | list[Run]:
    """Runs matching a filter such as ``"metrics.auc > 0.9 and params.penalty = 'l2'"``.

    ``output="frame"`` (default) gives MLflow's columns (``run_id``, ``params.C``, ``metrics.auc``,
    ``tags.team`` …); ``output="list"`` gives :class:`Run` objects.
    """
    return get_client().search_runs(experiment, filter, order_by, max_results, output, include_deleted)


def list_child_runs(run_id: str) -> list[Run]:
    return get_client().list_child_runs(run_id)


def list_artifacts(run_id: str, prefix: str | None = None) -> list[ArtifactRef]:
    return get_client().list_artifacts(run_id, prefix)


def download_artifacts(
    run_id: str, artifact_path: str | None = None, dst_path: str | os.PathLike[str] | None = None
) -> Path:
    return get_client().download_artifacts(run_id, artifact_path, dst_path)


def load_dict(run_id: str, artifact_path: str) -> Any:
    return get_client().load_dict(run_id, artifact_path)


def load_text(run_id: str, artifact_path: str) -> str:
    return get_client().load_text(run_id, artifact_path)


def delete_run(run_id: str) -> None:
    """Soft-delete a run (hidden from searches; :func:`restore_run` brings it back)."""
    get_client().delete_run(run_id)


def restore_run(run_id: str) -> None:
    get_client().restore_run(run_id)


def delete_experiment(name_or_id: str) -> None:
    """Soft-delete an experiment and hide its runs; ``loopwright gc`` purges it and frees the name."""
    global _experiment_name
    experiment = get_client().get_experiment(name_or_id)
    get_client().delete_experiment(experiment.id)
    if _experiment_name == experiment.name:
        _experiment_name = None


def restore_experiment(name_or_id: str) -> None:
    get_client().restore_experiment(name_or_id)


def mark_failed_runs(
    stale: str | float | timedelta | None = None, dry_run: bool = False
) -> list[AbandonedRun]:
    """End running runs whose process is gone (this host) or, with ``stale="1h"``, that went quiet.

    ``loopwright runs mark-failed [--stale 1h] [--dry-run]`` does the same; see
    :meth:`loopwright.tracking.Client.mark_failed_runs`.
    """
    return get_client().mark_failed_runs(stale, dry_run)


def gc(grace_seconds: float = 3600.0) -> GcReport:
    """Purge deleted runs and experiments and every blob no live record points to."""
    return get_client().gc(grace_seconds)
