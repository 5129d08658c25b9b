"""MLflow's fluent functions (``mlflow.start_run``, ``mlflow.log_metric`` …) over ``loopwright.tracking``.

Every call translates to Loopwright's own API and keeps no state of its own beyond what MLflow's
module keeps (the last active run; runs it started implicitly, ended at exit like MLflow's).

Examples
--------
>>> import os, tempfile, loopwright as lw, loopwright.mlflow as mlflow
>>> os.environ["LOOPWRIGHT_HOME"] = tempfile.mkdtemp()
>>> _ = mlflow.set_experiment("demo")
>>> with mlflow.start_run(run_name="baseline") as run:
...     mlflow.log_param("alpha", 0.5)
...     mlflow.log_metric("rmse", 0.7, step=1)
0.5
>>> lw.get_run(run.info.run_id).params, mlflow.get_run(run.info.run_id).info.status
({'alpha': '0.5'}, 'FINISHED')
>>> del os.environ["LOOPWRIGHT_HOME"]; lw.reset_clients()
"""

from __future__ import annotations

import atexit
import io
import os
import re
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any

import pandas as pd

from loopwright.errors import NotFound
from loopwright.mlflow.entities import (
    KILLED_TAG,
    Experiment,
    Run,
    RunInfo,
    ViewType,
    run_tags,
    status_of,
    to_experiment,
    to_run,
)
from loopwright.mlflow.exceptions import Unsupported
from loopwright.mlflow.images import png_bytes
from loopwright.tracking import fluent as lw
from loopwright.tracking.client import DEFAULT_EXPERIMENT, get_client

_last_run_id: str | None = None
_implicit: list[str] = []  # runs a logging call started because none was active (MLflow does the same)


class ActiveRun:
    """What ``mlflow.start_run()`` returns: ``.info`` / ``.data`` as at start, a context manager.

    Examples
    --------
    >>> import os, tempfile, loopwright as lw, loopwright.mlflow as mlflow
    >>> os.environ["LOOPWRIGHT_HOME"] = tempfile.mkdtemp()
    >>> with mlflow.start_run(run_name="r") as run:
    ...     run.info.run_name, run.info.status
    ('r', 'RUNNING')
    >>> del os.environ["LOOPWRIGHT_HOME"]; lw.reset_clients()
    """

    def __init__(self, run: Run):
        self._run = run

    @property
    def info(self) -> RunInfo:
        return self._run.info

    @property
    def data(self) -> Any:
        return self._run.data

    def __enter__(self) -> ActiveRun:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        current = lw.active_run()
        if current is None or current.id != self.info.run_id:  # the block ended it already
            return
        if exc is None:
            end_run("FINISHED")
        else:
            _end("FAILED", f"{type(exc).__name__}: {exc}")


def _experiment_name(experiment_id: str | None) -> str | None:
    return None if experiment_id is None else lw.get_experiment(str(experiment_id)).name


def set_experiment(experiment_name: str | None = None, experiment_id: str | None = None) -> Experiment:
    """Make an experiment (by name, created if missing, or by id) the one new runs go to."""
    if (experiment_name is None) == (experiment_id is None):
        raise Unsupported("mlflow.set_experiment() without exactly one of name/id", "set_experiment(name)")
    name = experiment_name or _experiment_name(experiment_id)
    assert name is not None
    return to_experiment(lw.set_experiment(name))


def create_experiment(
    name: str, artifact_location: str | None = None, tags: Mapping[str, Any] | None = None
) -> str:
    """Create an experiment; returns its id."""
    if artifact_location is not None:
        raise Unsupported(
            "create_experiment(artifact_location=)", "LOOPWRIGHT_ARTIFACT_URI (one artifact root)"
        )
    return lw.create_experiment(name, {k: str(v) for k, v in (tags or {}).items()}).id


def get_experiment(experiment_id: str) -> Experiment:
    return to_experiment(lw.get_experiment(str(experiment_id)))


def get_experiment_by_name(name: str) -> Experiment | None:
    """The experiment called ``name``, or ``None`` (MLflow's answer, not an error)."""
    try:
        return to_experiment(lw.get_experiment(name))
    except NotFound:
        return None


def search_experiments(
    view_type: int = ViewType.ACTIVE_ONLY,
    max_results: int | None = None,
    filter_string: str | None = None,
    order_by: Sequence[str] | None = None,
) -> list[Experiment]:
    if filter_string or order_by:
        raise Unsupported(
            "search_experiments(filter_string=/order_by=)", "lw.list_experiments() and filter in Python"
        )
    found = lw.list_experiments(include_deleted=view_type != ViewType.ACTIVE_ONLY)
    if view_type == ViewType.DELETED_ONLY:
        found = [e for e in found if e.lifecycle == "deleted"]
    shaped = [to_experiment(e) for e in found]
    return shaped if max_results is None else shaped[:max_results]


def delete_experiment(experiment_id: str) -> None:
    lw.delete_experiment(str(experiment_id))


def start_run(
    run_id: str | None = None,
    experiment_id: str | None = None,
    run_name: str | None = None,
    nested: bool = False,
    parent_run_id: str | None = None,
    tags: Mapping[str, Any] | None = None,
    description: str | None = None,
    log_system_metrics: bool | None = None,
) -> ActiveRun:
    """Start (or resume ``run_id``) a run and make it active."""
    global _last_run_id
    if log_system_metrics:
        raise Unsupported("start_run(log_system_metrics=True)", "log the figures with mlflow.log_metrics")
    all_tags = {k: str(v) for k, v in (tags or {}).items()}
    run_name = run_name or all_tags.pop("mlflow.runName", None)
    if description is not None:
        all_tags["mlflow.note.content"] = description
    started = lw.start_run(
        name=run_name,
        tags=all_tags or None,
        nested=nested,
        run_id=run_id,
        experiment=_experiment_name(experiment_id),
        parent_id=parent_run_id,
    )
    if run_id is not None and all_tags:
        lw.set_tags(all_tags)
    _last_run_id = started.id
    return ActiveRun(to_run(lw.get_run(started.id)))


def active_run() -> ActiveRun | None:
    run = lw.active_run()
    return None if run is None else ActiveRun(to_run(lw.get_run(run.id)))


def last_active_run() -> Run | None:
    """The active run, else the last one this process ended (re-read from the store)."""
    run = lw.active_run()
    rid = run.id if run is not None else _last_run_id
    return None if rid is None else to_run(lw.get_run(rid))


def end_run(status: str = "FINISHED") -> None:
    """End the innermost active run as ``FINISHED``, ``FAILED`` or ``KILLED`` (failed + a tag)."""
    run = lw.active_run()
    if run is None:
        return
    upper = str(status).upper()
    if upper not in ("FINISHED", "FAILED", "KILLED"):
        raise Unsupported(f"end_run(status={status!r})", "FINISHED, FAILED or KILLED")
    _end(upper, None if upper == "FINISHED" else f"ended with status {upper}")


def _end(status: str, error: str | None) -> None:
    global _last_run_id
    run = lw.active_run()
    assert run is not None
    if status == "KILLED":
        lw.set_tag(KILLED_TAG, "KILLED")
    _last_run_id = run.id
    if run.id in _implicit:
        _implicit.remove(run.id)
    lw.end_run("finished" if status == "FINISHED" else "failed", error=error)


def _end_implicit_runs() -> None:
    while _implicit and lw.active_run() is not None:
        end_run()


atexit.register(_end_implicit_runs)


def get_or_start_run() -> str:
    """The active run's id; starts one (ended at exit) when none is active, as MLflow's logging calls do."""
    global _last_run_id
    run = lw.active_run()
    if run is None:
        run = lw.start_run()
        _implicit.append(run.id)
        _last_run_id = run.id
    return run.id


def _rid(run_id: str | None) -> str:
    return run_id if run_id is not None else get_or_start_run()


def log_param(key: str, value: Any, synchronous: bool | None = None) -> Any:
    """Log a parameter; returns ``value`` as MLflow does."""
    lw.log_param(key, value, run_id=_rid(None))
    return value


def log_params(params: Mapping[str, Any], synchronous: bool | None = None, run_id: str | None = None) -> None:
    lw.log_params(params, run_id=_rid(run_id))


def set_tag(key: str, value: Any, synchronous: bool | None = None) -> None:
    lw.set_tag(key, value, run_id=_rid(None))


def set_tags(tags: Mapping[str, Any], synchronous: bool | None = None) -> None:
    lw.set_tags(tags, run_id=_rid(None))


def delete_tag(key: str) -> None:
    lw.delete_tag(key, run_id=_rid(None))


def log_metric(
    key: str,
    value: float,
    step: int | None = None,
    synchronous: bool | None = None,
    timestamp: int | None = None,
    run_id: str | None = None,
    **unsupported: Any,
) -> None:
    """Log a metric point; buffered like Loopwright's, written at once with ``synchronous=True``."""
    given = [k for k, v in unsupported.items() if v is not None]
    if given:
        raise Unsupported(f"log_metric({', '.join(given)}=)", "lw.log_metric(key, value, step)")
    lw.log_metric(key, value, step or 0, timestamp, run_id=_rid(run_id))
    if synchronous:
        lw.flush()


def log_metrics(
    metrics: Mapping[str, float],
    step: int | None = None,
    synchronous: bool | None = None,
    run_id: str | None = None,
    timestamp: int | None = None,
) -> None:
    lw.log_metrics(metrics, step or 0, timestamp, run_id=_rid(run_id))
    if synchronous:
        lw.flush()


def log_artifact(
    local_path: str | os.PathLike[str], artifact_path: str | None = None, run_id: str | None = None
) -> None:
    lw.log_artifact(local_path, artifact_path, run_id=_rid(run_id))


def log_artifacts(
    local_dir: str | os.PathLike[str], artifact_path: str | None = None, run_id: str | None = None
) -> None:
    lw.log_artifacts(local_dir, artifact_path, run_id=_rid(run_id))


def log_text(text: str, artifact_file: str, run_id: str | None = None) -> None:
    lw.log_text(text, artifact_file, run_id=_rid(run_id))


def log_dict(dictionary: Mapping[str, Any], artifact_file: str, run_id: str | None = None) -> None:
    lw.log_dict(dictionary, artifact_file, run_id=_rid(run_id))


def log_figure(figure: Any, artifact_file: str, *, save_kwargs: Mapping[str, Any] | None = None) -> None:
    """Store a matplotlib (``savefig``) or plotly (``write_html`` / ``write_image``) figure."""
    buffer = io.BytesIO()
    if hasattr(figure, "savefig"):
        figure.savefig(buffer, format=artifact_file.rsplit(".", 1)[-1], **dict(save_kwargs or {}))
        data = buffer.getvalue()
    elif artifact_file.endswith(".html") and hasattr(figure, "to_html"):
        data = figure.to_html(**dict(save_kwargs or {})).encode()
    elif hasattr(figure, "write_image"):
        figure.write_image(buffer, format=artifact_file.rsplit(".", 1)[-1], **dict(save_kwargs or {}))
        data = buffer.getvalue()
    else:
        raise Unsupported(
            f"log_figure({type(figure).__name__})", "save the figure to a file and lw.log_artifact it"
        )
    get_client().log_bytes(_rid(None), data, artifact_file)


def log_image(image: Any, artifact_file: str | None = None, *, key: str | None = None, **kwargs: Any) -> None:
    """Store a PIL image or a numpy array (uint8 0-255 or float 0-1) as an image file."""
    if artifact_file is None or key is not None or kwargs:
        raise Unsupported("log_image(key=, step=)", "mlflow.log_image(image, 'images/step_3.png')")
    if hasattr(image, "save"):
        buffer = io.BytesIO()
        image.save(buffer, format=artifact_file.rsplit(".", 1)[-1].upper().replace("JPG", "JPEG"))
        data = buffer.getvalue()
    elif artifact_file.lower().endswith(".png"):
        data = png_bytes(image)
    else:
        raise Unsupported(f"log_image(array, {artifact_file!r})", "a .png artifact_file for an array")
    get_client().log_bytes(_rid(None), data, artifact_file)


def log_table(data: Any, artifact_file: str, run_id: str | None = None) -> None:
    raise Unsupported("mlflow.log_table", "lw.log_dict(table, 'table.json')")


def log_input(
    dataset: Any, context: str | None = None, tags: Mapping[str, str] | None = None, model: Any = None
) -> None:
    """Record a :func:`loopwright.mlflow.data.from_pandas` dataset's fingerprint (``lw.log_dataset``)."""
    frame = getattr(dataset, "df", None)
    if frame is None:
        raise Unsupported(f"log_input({type(dataset).__name__})", "lw.log_dataset(frame, name)")
    lw.log_dataset(
        frame, dataset.name, context or "input", getattr(dataset, "source", None), run_id=_rid(None)
    )


def get_run(run_id: str) -> Run:
    return to_run(lw.get_run(run_id))


def get_artifact_uri(artifact_path: str | None = None) -> str:
    rid = _rid(None)
    return f"runs:/{rid}/{artifact_path}" if artifact_path else f"runs:/{rid}"


_MLFLOW_ATTRIBUTE_TAGS = [
    (re.compile(r"tags\.(`|\")?mlflow\.runName(`|\")?"), "name"),
    (re.compile(r"tags\.(`|\")?mlflow\.parentRunId(`|\")?"), "parent_id"),
]


def translate_filter(text: str | None) -> str | None:
    """MLflow's run filter in Loopwright's grammar (the ``mlflow.*`` tags that are attributes here).

    >>> translate_filter("tags.mlflow.runName = 'a' and metrics.rmse < 1")
    "name = 'a' and metrics.rmse < 1"
    """
    if not text:
        return None
    for pattern, attribute in _MLFLOW_ATTRIBUTE_TAGS:
        text = pattern.sub(attribute, text)
    return text


def names_for(
    experiment_ids: Sequence[str] | str | None,
    experiment_names: Sequence[str] | None,
    search_all: bool = False,
) -> list[str] | None:
    if search_all:
        return None
    ids = [experiment_ids] if isinstance(experiment_ids, str) else list(experiment_ids or [])
    names = [lw.get_experiment(str(i)).name for i in ids] + list(experiment_names or [])
    return names or [lw.chosen_experiment() or DEFAULT_EXPERIMENT]


def runs_frame(runs: Sequence[Any]) -> pd.DataFrame:
    """Runs as MLflow's ``search_runs`` frame: upper-case status, ``artifact_uri``, ``tags.mlflow.*``."""
    records = []
    for run in runs:
        record: dict[str, Any] = {
            "run_id": run.id,
            "experiment_id": run.experiment_id,
            "status": status_of(run),
            "artifact_uri": f"runs:/{run.id}",
            "start_time": run.start_time,
            "end_time": run.end_time,
        }
        record.update({f"metrics.{k}": v for k, v in run.metrics.items()})
        record.update({f"params.{k}": v for k, v in run.params.items()})
        record.update({f"tags.{k}": v for k, v in run_tags(run).items()})
        records.append(record)
    columns = ["run_id", "experiment_id", "status", "artifact_uri", "start_time", "end_time"]
    frame = pd.DataFrame.from_records(records) if records else pd.DataFrame(columns=columns)
    for column in ("start_time", "end_time"):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    return frame


def search_lw_runs(
    names: list[str] | None,
    filter_string: str | None,
    run_view_type: int,
    max_results: int,
    order_by: Sequence[str] | None,
) -> list[Any]:
    orders = [translate_filter(o) or o for o in (order_by or ["start_time DESC"])]
    runs = get_client().search_runs(
        names,
        translate_filter(filter_string),
        orders,
        max_results,
        "list",
        run_view_type != ViewType.ACTIVE_ONLY,
    )
    assert isinstance(runs, list)
    if run_view_type == ViewType.DELETED_ONLY:
        runs = [r for r in runs if r.lifecycle == "deleted"]
    return runs


def search_runs(
    experiment_ids: Sequence[str] | str | None = None,
    filter_string: str = "",
    run_view_type: int = ViewType.ACTIVE_ONLY,
    max_results: int = 100_000,
    order_by: Sequence[str] | None = None,
    output_format: str = "pandas",
    search_all_experiments: bool = False,
    experiment_names: Sequence[str] | None = None,
) -> pd.DataFrame | list[Run]:
    """Runs as MLflow's frame (``output_format="pandas"``) or ``list`` of :class:`Run`.

    Examples
    --------
    >>> import os, tempfile, loopwright as lw, loopwright.mlflow as mlflow
    >>> os.environ["LOOPWRIGHT_HOME"] = tempfile.mkdtemp()
    >>> _ = mlflow.set_experiment("demo")
    >>> with mlflow.start_run(run_name="parent"):
    ...     with mlflow.start_run(run_name="child", nested=True):
    ...         mlflow.log_metric("rmse", 0.5)
    >>> frame = mlflow.search_runs(filter_string="tags.mlflow.runName = 'child'")
    >>> frame[["status", "metrics.rmse", "tags.mlflow.runName"]].values.tolist()
    [['FINISHED', 0.5, 'child']]
    >>> del os.environ["LOOPWRIGHT_HOME"]; lw.reset_clients()
    """
    if output_format not in ("pandas", "list"):
        raise Unsupported(f"search_runs(output_format={output_format!r})", "'pandas' or 'list'")
    names = names_for(experiment_ids, experiment_names, search_all_experiments)
    runs = search_lw_runs(names, filter_string, run_view_type, max_results, order_by)
    return runs_frame(runs) if output_format == "pandas" else [to_run(r) for r in runs]
