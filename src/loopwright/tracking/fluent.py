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
import sys
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

    Examples
    --------
    >>> import os, tempfile, loopwright as lw
    >>> os.environ["LOOPWRIGHT_HOME"] = tempfile.mkdtemp()
    >>> with lw.start_run(name="baseline") as run:
    ...     lw.log_metric("auc", 0.91)
    >>> run.name, lw.get_run(run.id).status
    ('baseline', 'finished')
    >>> del os.environ["LOOPWRIGHT_HOME"]; lw.reset_clients()
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
    """Make ``name`` the experiment new runs go to, creating it if needed.

    Examples
    --------
    >>> import os, tempfile, loopwright as lw
    >>> os.environ["LOOPWRIGHT_HOME"] = tempfile.mkdtemp()
    >>> lw.set_experiment("churn").name
    'churn'
    >>> with lw.start_run() as run:
    ...     pass
    >>> lw.get_experiment(lw.get_run(run.id).experiment_id).name
    'churn'
    >>> del os.environ["LOOPWRIGHT_HOME"]; lw.reset_clients()
    """
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
    """The innermost active run of this thread, or ``None``.

    Examples
    --------
    >>> import os, tempfile, loopwright as lw
    >>> os.environ["LOOPWRIGHT_HOME"] = tempfile.mkdtemp()
    >>> lw.active_run() is None
    True
    >>> with lw.start_run() as run:
    ...     lw.active_run().id == run.id
    True
    >>> del os.environ["LOOPWRIGHT_HOME"]; lw.reset_clients()
    """
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

    Examples
    --------
    >>> import os, tempfile, loopwright as lw
    >>> os.environ["LOOPWRIGHT_HOME"] = tempfile.mkdtemp()
    >>> with lw.start_run(name="parent", tags={"team": "risk"}) as parent:
    ...     with lw.start_run(name="child", nested=True) as child:
    ...         pass
    >>> lw.get_run(child.id).parent_id == parent.id
    True
    >>> del os.environ["LOOPWRIGHT_HOME"]; lw.reset_clients()
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
    """End the active run (or ``run_id``), flushing its metrics first.

    Examples
    --------
    >>> import os, tempfile, loopwright as lw
    >>> os.environ["LOOPWRIGHT_HOME"] = tempfile.mkdtemp()
    >>> run = lw.start_run()
    >>> lw.end_run("failed", error="out of memory")
    >>> lw.get_run(run.id).status
    'failed'
    >>> del os.environ["LOOPWRIGHT_HOME"]; lw.reset_clients()
    """
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
    """Record one parameter of the active run (or ``run_id``); a parameter never changes once set.

    Examples
    --------
    >>> import os, tempfile, loopwright as lw
    >>> os.environ["LOOPWRIGHT_HOME"] = tempfile.mkdtemp()
    >>> with lw.start_run() as run:
    ...     lw.log_param("C", 0.5)
    >>> lw.get_run(run.id).params
    {'C': '0.5'}
    >>> del os.environ["LOOPWRIGHT_HOME"]; lw.reset_clients()
    """
    client, rid = _run_id(run_id)
    client.log_param(rid, key, value)


def log_params(params: Mapping[str, Any], run_id: str | None = None) -> None:
    """Record several parameters of the active run (or ``run_id``) at once.

    Examples
    --------
    >>> import os, tempfile, loopwright as lw
    >>> os.environ["LOOPWRIGHT_HOME"] = tempfile.mkdtemp()
    >>> with lw.start_run() as run:
    ...     lw.log_params({"C": 0.5, "penalty": "l2"})
    >>> lw.get_run(run.id).params
    {'C': '0.5', 'penalty': 'l2'}
    >>> del os.environ["LOOPWRIGHT_HOME"]; lw.reset_clients()
    """
    client, rid = _run_id(run_id)
    client.log_params(rid, params)


def set_tag(key: str, value: Any, run_id: str | None = None) -> None:
    """Set (or overwrite) one tag of the active run (or ``run_id``).

    Examples
    --------
    >>> import os, tempfile, loopwright as lw
    >>> os.environ["LOOPWRIGHT_HOME"] = tempfile.mkdtemp()
    >>> with lw.start_run() as run:
    ...     lw.set_tag("team", "risk")
    >>> lw.get_run(run.id).tags
    {'team': 'risk'}
    >>> del os.environ["LOOPWRIGHT_HOME"]; lw.reset_clients()
    """
    client, rid = _run_id(run_id)
    client.set_tag(rid, key, value)


def set_tags(tags: Mapping[str, Any], run_id: str | None = None) -> None:
    """Set (or overwrite) several tags of the active run (or ``run_id``).

    Examples
    --------
    >>> import os, tempfile, loopwright as lw
    >>> os.environ["LOOPWRIGHT_HOME"] = tempfile.mkdtemp()
    >>> with lw.start_run() as run:
    ...     lw.set_tags({"team": "risk", "stage": "dev"})
    >>> lw.get_run(run.id).tags
    {'stage': 'dev', 'team': 'risk'}
    >>> del os.environ["LOOPWRIGHT_HOME"]; lw.reset_clients()
    """
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
    """Log one metric point; returns at once, the write happens in the background.

    Examples
    --------
    >>> import os, tempfile, loopwright as lw
    >>> os.environ["LOOPWRIGHT_HOME"] = tempfile.mkdtemp()
    >>> with lw.start_run() as run:
    ...     lw.log_metric("loss", 0.7, step=0)
    ...     lw.log_metric("loss", 0.4, step=1)
    >>> lw.get_run(run.id).metrics
    {'loss': 0.4}
    >>> del os.environ["LOOPWRIGHT_HOME"]; lw.reset_clients()
    """
    client, rid = _run_id(run_id)
    client.log_metric(rid, key, value, step, timestamp)


def log_metrics(
    metrics: Mapping[str, float], step: int = 0, timestamp: int | None = None, run_id: str | None = None
) -> None:
    """Log several metrics at one step; returns at once, like :func:`log_metric`.

    Examples
    --------
    >>> import os, tempfile, loopwright as lw
    >>> os.environ["LOOPWRIGHT_HOME"] = tempfile.mkdtemp()
    >>> with lw.start_run() as run:
    ...     lw.log_metrics({"auc": 0.91, "accuracy": 0.88}, step=3)
    >>> lw.get_run(run.id).metrics
    {'accuracy': 0.88, 'auc': 0.91}
    >>> del os.environ["LOOPWRIGHT_HOME"]; lw.reset_clients()
    """
    client, rid = _run_id(run_id)
    client.log_metrics(rid, metrics, step, timestamp)


def log_artifact(
    local_path: str | os.PathLike[str], artifact_path: str | None = None, run_id: str | None = None
) -> list[ArtifactRef]:
    """Store a file, or a folder and everything under it, as artifacts of the run.

    Examples
    --------
    >>> import os, tempfile, loopwright as lw
    >>> os.environ["LOOPWRIGHT_HOME"] = tempfile.mkdtemp()
    >>> path = os.path.join(tempfile.mkdtemp(), "notes.txt")
    >>> with open(path, "w") as f:
    ...     _ = f.write("threshold 0.4")
    >>> with lw.start_run() as run:
    ...     refs = lw.log_artifact(path)
    >>> [r.path for r in refs]
    ['notes.txt']
    >>> del os.environ["LOOPWRIGHT_HOME"]; lw.reset_clients()
    """
    client, rid = _run_id(run_id)
    return client.log_artifact(rid, local_path, artifact_path)


def log_artifacts(
    local_dir: str | os.PathLike[str], artifact_path: str | None = None, run_id: str | None = None
) -> list[ArtifactRef]:
    """Store the files inside ``local_dir`` (not the folder's own name) under ``artifact_path``.

    Examples
    --------
    >>> import os, tempfile, loopwright as lw
    >>> os.environ["LOOPWRIGHT_HOME"] = tempfile.mkdtemp()
    >>> folder = tempfile.mkdtemp()
    >>> for name in ("a.txt", "b.txt"):
    ...     with open(os.path.join(folder, name), "w") as f:
    ...         _ = f.write(name)
    >>> with lw.start_run() as run:
    ...     refs = lw.log_artifacts(folder, "inputs")
    >>> sorted(r.path for r in refs)
    ['inputs/a.txt', 'inputs/b.txt']
    >>> del os.environ["LOOPWRIGHT_HOME"]; lw.reset_clients()
    """
    client, rid = _run_id(run_id)
    return client.log_artifacts(rid, local_dir, artifact_path)


def log_text(text: str, artifact_path: str, run_id: str | None = None) -> ArtifactRef:
    """Store ``text`` as the artifact ``artifact_path`` of the active run (or ``run_id``).

    Examples
    --------
    >>> import os, tempfile, loopwright as lw
    >>> os.environ["LOOPWRIGHT_HOME"] = tempfile.mkdtemp()
    >>> with lw.start_run() as run:
    ...     ref = lw.log_text("all good", "notes/summary.txt")
    >>> lw.load_text(run.id, "notes/summary.txt")
    'all good'
    >>> del os.environ["LOOPWRIGHT_HOME"]; lw.reset_clients()
    """
    client, rid = _run_id(run_id)
    return client.log_text(rid, text, artifact_path)


def log_dict(data: Mapping[str, Any], artifact_path: str, run_id: str | None = None) -> ArtifactRef:
    """Store ``data`` as a JSON (``.json``) or YAML (``.yaml``/``.yml``) artifact of the run.

    Examples
    --------
    >>> import os, tempfile, loopwright as lw
    >>> os.environ["LOOPWRIGHT_HOME"] = tempfile.mkdtemp()
    >>> with lw.start_run() as run:
    ...     ref = lw.log_dict({"threshold": 0.4}, "config.json")
    >>> lw.load_dict(run.id, "config.json")
    {'threshold': 0.4}
    >>> del os.environ["LOOPWRIGHT_HOME"]; lw.reset_clients()
    """
    client, rid = _run_id(run_id)
    return client.log_dict(rid, data, artifact_path)


def log_dataset(
    data: Any, name: str, context: str = "input", source: str | None = None, run_id: str | None = None
) -> DatasetInput:
    """Record a dataset's fingerprint (digest, schema, row count) as a lineage input of the run.

    Examples
    --------
    >>> import os, tempfile, loopwright as lw
    >>> os.environ["LOOPWRIGHT_HOME"] = tempfile.mkdtemp()
    >>> import pandas as pd
    >>> with lw.start_run() as run:
    ...     ds = lw.log_dataset(pd.DataFrame({"x": [1, 2, 3]}), name="train")
    >>> ds.name, ds.n_rows
    ('train', 3)
    >>> del os.environ["LOOPWRIGHT_HOME"]; lw.reset_clients()
    """
    client, rid = _run_id(run_id)
    return client.log_dataset(rid, data, name=name, context=context, source=source)


def flush() -> None:
    """Write every buffered metric point (and finished trace) now.

    Examples
    --------
    >>> import os, tempfile, loopwright as lw
    >>> os.environ["LOOPWRIGHT_HOME"] = tempfile.mkdtemp()
    >>> with lw.start_run() as run:
    ...     lw.log_metric("auc", 0.9)
    ...     lw.flush()  # written now, not when the run ends
    ...     lw.get_run(run.id).metrics
    {'auc': 0.9}
    >>> del os.environ["LOOPWRIGHT_HOME"]; lw.reset_clients()
    """
    get_client().flush()
    tracing = sys.modules.get("loopwright.llm.tracing")  # loaded only if something traced
    if tracing is not None:
        tracing.flush_traces()


def get_run(run_id: str) -> Run:
    """The run ``run_id`` (or a unique prefix of 8+ hex characters): params, metrics, tags, status.

    Examples
    --------
    >>> import os, tempfile, loopwright as lw
    >>> os.environ["LOOPWRIGHT_HOME"] = tempfile.mkdtemp()
    >>> with lw.start_run(name="baseline") as run:
    ...     lw.log_metric("auc", 0.91)
    >>> found = lw.get_run(run.id[:8])
    >>> found.name, found.metrics, found.status
    ('baseline', {'auc': 0.91}, 'finished')
    >>> del os.environ["LOOPWRIGHT_HOME"]; lw.reset_clients()
    """
    return get_client().get_run(run_id)


def list_metric_history(run_id: str, key: str) -> list[MetricPoint]:
    """Every point logged for metric ``key`` of the run, in step order.

    Examples
    --------
    >>> import os, tempfile, loopwright as lw
    >>> os.environ["LOOPWRIGHT_HOME"] = tempfile.mkdtemp()
    >>> with lw.start_run() as run:
    ...     for step, loss in enumerate([0.9, 0.5, 0.3]):
    ...         lw.log_metric("loss", loss, step=step)
    >>> [(p.step, p.value) for p in lw.list_metric_history(run.id, "loss")]
    [(0, 0.9), (1, 0.5), (2, 0.3)]
    >>> del os.environ["LOOPWRIGHT_HOME"]; lw.reset_clients()
    """
    return get_client().list_metric_history(run_id, key)


def get_experiment(name_or_id: str) -> Experiment:
    """The experiment with this name or id; ``NotFound`` if there is none.

    Examples
    --------
    >>> import os, tempfile, loopwright as lw
    >>> os.environ["LOOPWRIGHT_HOME"] = tempfile.mkdtemp()
    >>> created = lw.create_experiment("churn")
    >>> lw.get_experiment("churn").id == created.id
    True
    >>> del os.environ["LOOPWRIGHT_HOME"]; lw.reset_clients()
    """
    return get_client().get_experiment(name_or_id)


def create_experiment(name: str, tags: Mapping[str, str] | None = None) -> Experiment:
    """Create an experiment (``AlreadyExists`` if the name is taken); :func:`set_experiment` also creates.

    Examples
    --------
    >>> import os, tempfile, loopwright as lw
    >>> os.environ["LOOPWRIGHT_HOME"] = tempfile.mkdtemp()
    >>> lw.create_experiment("churn", tags={"team": "risk"}).tags
    {'team': 'risk'}
    >>> del os.environ["LOOPWRIGHT_HOME"]; lw.reset_clients()
    """
    return get_client().create_experiment(name, tags)


def list_experiments(include_deleted: bool = False) -> list[Experiment]:
    """Every experiment (the deleted ones too with ``include_deleted=True``).

    Examples
    --------
    >>> import os, tempfile, loopwright as lw
    >>> os.environ["LOOPWRIGHT_HOME"] = tempfile.mkdtemp()
    >>> _ = lw.create_experiment("churn")
    >>> "churn" in [e.name for e in lw.list_experiments()]
    True
    >>> del os.environ["LOOPWRIGHT_HOME"]; lw.reset_clients()
    """
    return get_client().list_experiments(include_deleted)


@overload
def search_runs(
    experiment: str | Sequence[str] | None = ...,
    filter: str | None = ...,
    order_by: Sequence[str] | str | None = ...,
    max_results: int = ...,
    output: Literal["frame"] = ...,
    include_deleted: bool = ...,
    after_run_id: str | None = ...,
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
    after_run_id: str | None = ...,
) -> list[Run]: ...
def search_runs(
    experiment: str | Sequence[str] | None = None,
    filter: str | None = None,
    order_by: Sequence[str] | str | None = None,
    max_results: int = 1000,
    output: Literal["frame", "list"] = "frame",
    include_deleted: bool = False,
    after_run_id: str | None = None,
) -> pd.DataFrame | list[Run]:
    """Runs matching a filter such as ``"metrics.auc > 0.9 and params.penalty = 'l2'"``.

    ``output="frame"`` (default) gives MLflow's columns (``run_id``, ``params.C``, ``metrics.auc``,
    ``tags.team`` …); ``output="list"`` gives :class:`Run` objects. ``after_run_id`` pages by keyset:
    pass the last run of a page to get the next (as fast on page 1,000 as on page 1).

    Examples
    --------
    >>> import os, tempfile, loopwright as lw
    >>> os.environ["LOOPWRIGHT_HOME"] = tempfile.mkdtemp()
    >>> for C in (0.1, 1.0):
    ...     with lw.start_run():
    ...         lw.log_param("C", C)
    ...         lw.log_metric("auc", 0.8 + C / 10)
    >>> frame = lw.search_runs(filter="metrics.auc > 0.85", order_by=["metrics.auc DESC"])
    >>> frame[["params.C", "metrics.auc"]].values.tolist()
    [['1.0', 0.9]]
    >>> [r.params["C"] for r in lw.search_runs(order_by="params.C", output="list")]
    ['0.1', '1.0']
    >>> first = lw.search_runs(order_by="params.C", max_results=1, output="list")
    >>> [r.params["C"] for r in lw.search_runs(order_by="params.C", output="list", after_run_id=first[-1].id)]
    ['1.0']
    >>> del os.environ["LOOPWRIGHT_HOME"]; lw.reset_clients()
    """
    return get_client().search_runs(
        experiment, filter, order_by, max_results, output, include_deleted, after_run_id=after_run_id
    )


def list_child_runs(run_id: str) -> list[Run]:
    """The runs started nested under ``run_id`` (a pipeline's steps, a tuning's trials).

    Examples
    --------
    >>> import os, tempfile, loopwright as lw
    >>> os.environ["LOOPWRIGHT_HOME"] = tempfile.mkdtemp()
    >>> with lw.start_run() as parent:
    ...     for name in ("fold-1", "fold-2"):
    ...         with lw.start_run(name=name, nested=True):
    ...             pass
    >>> sorted(r.name for r in lw.list_child_runs(parent.id))
    ['fold-1', 'fold-2']
    >>> del os.environ["LOOPWRIGHT_HOME"]; lw.reset_clients()
    """
    return get_client().list_child_runs(run_id)


def list_artifacts(run_id: str, prefix: str | None = None) -> list[ArtifactRef]:
    """The run's artifacts (path, digest, size), optionally those under ``prefix``.

    Examples
    --------
    >>> import os, tempfile, loopwright as lw
    >>> os.environ["LOOPWRIGHT_HOME"] = tempfile.mkdtemp()
    >>> with lw.start_run() as run:
    ...     _ = lw.log_text("a", "notes/a.txt")
    ...     _ = lw.log_dict({"k": 1}, "config.json")
    >>> [r.path for r in lw.list_artifacts(run.id, prefix="notes")]
    ['notes/a.txt']
    >>> del os.environ["LOOPWRIGHT_HOME"]; lw.reset_clients()
    """
    return get_client().list_artifacts(run_id, prefix)


def download_artifacts(
    run_id: str, artifact_path: str | None = None, dst_path: str | os.PathLike[str] | None = None
) -> Path:
    """Copy the run's artifacts (all, or those under ``artifact_path``) into a local folder; returns it.

    Examples
    --------
    >>> import os, tempfile, loopwright as lw
    >>> os.environ["LOOPWRIGHT_HOME"] = tempfile.mkdtemp()
    >>> with lw.start_run() as run:
    ...     _ = lw.log_text("a", "notes/a.txt")
    >>> folder = lw.download_artifacts(run.id, "notes", tempfile.mkdtemp())
    >>> (folder / "a.txt").read_text() if (folder / "a.txt").exists() else (folder / "notes" / "a.txt").read_text()
    'a'
    >>> del os.environ["LOOPWRIGHT_HOME"]; lw.reset_clients()
    """
    return get_client().download_artifacts(run_id, artifact_path, dst_path)


def load_dict(run_id: str, artifact_path: str) -> Any:
    """A JSON or YAML artifact of the run, parsed (see :func:`log_dict`).

    Examples
    --------
    >>> import os, tempfile, loopwright as lw
    >>> os.environ["LOOPWRIGHT_HOME"] = tempfile.mkdtemp()
    >>> with lw.start_run() as run:
    ...     _ = lw.log_dict({"threshold": 0.4}, "config.yaml")
    >>> lw.load_dict(run.id, "config.yaml")
    {'threshold': 0.4}
    >>> del os.environ["LOOPWRIGHT_HOME"]; lw.reset_clients()
    """
    return get_client().load_dict(run_id, artifact_path)


def load_text(run_id: str, artifact_path: str) -> str:
    """A text artifact of the run (see :func:`log_text`).

    Examples
    --------
    >>> import os, tempfile, loopwright as lw
    >>> os.environ["LOOPWRIGHT_HOME"] = tempfile.mkdtemp()
    >>> with lw.start_run() as run:
    ...     _ = lw.log_text("all good", "summary.txt")
    >>> lw.load_text(run.id, "summary.txt")
    'all good'
    >>> del os.environ["LOOPWRIGHT_HOME"]; lw.reset_clients()
    """
    return get_client().load_text(run_id, artifact_path)


def delete_run(run_id: str) -> None:
    """Soft-delete a run (hidden from searches; :func:`restore_run` brings it back).

    Examples
    --------
    >>> import os, tempfile, loopwright as lw
    >>> os.environ["LOOPWRIGHT_HOME"] = tempfile.mkdtemp()
    >>> with lw.start_run() as run:
    ...     pass
    >>> lw.delete_run(run.id)
    >>> len(lw.search_runs()), len(lw.search_runs(include_deleted=True))
    (0, 1)
    >>> del os.environ["LOOPWRIGHT_HOME"]; lw.reset_clients()
    """
    get_client().delete_run(run_id)


def restore_run(run_id: str) -> None:
    """Bring back a run :func:`delete_run` hid.

    Examples
    --------
    >>> import os, tempfile, loopwright as lw
    >>> os.environ["LOOPWRIGHT_HOME"] = tempfile.mkdtemp()
    >>> with lw.start_run() as run:
    ...     pass
    >>> lw.delete_run(run.id); lw.restore_run(run.id)
    >>> len(lw.search_runs())
    1
    >>> del os.environ["LOOPWRIGHT_HOME"]; lw.reset_clients()
    """
    get_client().restore_run(run_id)


def delete_experiment(name_or_id: str) -> None:
    """Soft-delete an experiment and hide its runs; ``loopwright gc`` purges it and frees the name.

    Examples
    --------
    >>> import os, tempfile, loopwright as lw
    >>> os.environ["LOOPWRIGHT_HOME"] = tempfile.mkdtemp()
    >>> _ = lw.create_experiment("scratch")
    >>> lw.delete_experiment("scratch")
    >>> "scratch" in [e.name for e in lw.list_experiments()]
    False
    >>> del os.environ["LOOPWRIGHT_HOME"]; lw.reset_clients()
    """
    global _experiment_name
    experiment = get_client().get_experiment(name_or_id)
    get_client().delete_experiment(experiment.id)
    if _experiment_name == experiment.name:
        _experiment_name = None


def restore_experiment(name_or_id: str) -> None:
    """Bring back an experiment :func:`delete_experiment` hid, with its runs.

    Examples
    --------
    >>> import os, tempfile, loopwright as lw
    >>> os.environ["LOOPWRIGHT_HOME"] = tempfile.mkdtemp()
    >>> _ = lw.create_experiment("scratch")
    >>> lw.delete_experiment("scratch"); lw.restore_experiment("scratch")
    >>> "scratch" in [e.name for e in lw.list_experiments()]
    True
    >>> del os.environ["LOOPWRIGHT_HOME"]; lw.reset_clients()
    """
    get_client().restore_experiment(name_or_id)


def mark_failed_runs(
    stale: str | float | timedelta | None = None, dry_run: bool = False
) -> list[AbandonedRun]:
    """End running runs whose process is gone (this host) or, with ``stale="1h"``, that went quiet.

    ``loopwright runs mark-failed [--stale 1h] [--dry-run]`` does the same; see
    :meth:`loopwright.tracking.Client.mark_failed_runs`.

    Examples
    --------
    >>> import os, tempfile, loopwright as lw
    >>> os.environ["LOOPWRIGHT_HOME"] = tempfile.mkdtemp()
    >>> with lw.start_run():
    ...     pass
    >>> lw.mark_failed_runs(stale="1h", dry_run=True)  # nothing is running, so nothing is abandoned
    []
    >>> del os.environ["LOOPWRIGHT_HOME"]; lw.reset_clients()
    """
    return get_client().mark_failed_runs(stale, dry_run)


def gc(
    grace_seconds: float = 3600.0,
    *,
    predictions_older_than: str | int | timedelta | None = None,
    compact_predictions: str | int | timedelta | None = None,
    label_horizon: str | int | timedelta = "7d",
    deleted_older_than: str | int | timedelta | None = None,
) -> GcReport:
    """Purge deleted runs and experiments and every blob no live record points to; with
    ``predictions_older_than="30d"`` / ``compact_predictions="1h"`` also expire / compact the
    serving prediction log; with ``deleted_older_than="7d"`` purge only what was deleted that long ago
    (see :meth:`Client.gc <loopwright.tracking.client.Client.gc>`).

    Examples
    --------
    >>> import os, tempfile, loopwright as lw
    >>> os.environ["LOOPWRIGHT_HOME"] = tempfile.mkdtemp()
    >>> with lw.start_run() as run:
    ...     _ = lw.log_text("scratch", "notes.txt")
    >>> lw.delete_run(run.id)
    >>> report = lw.gc(grace_seconds=0)
    >>> report.runs, report.blobs
    (1, 1)
    >>> del os.environ["LOOPWRIGHT_HOME"]; lw.reset_clients()
    """
    return get_client().gc(
        grace_seconds,
        predictions_older_than=predictions_older_than,
        compact_predictions=compact_predictions,
        label_horizon=label_horizon,
        deleted_older_than=deleted_older_than,
    )
