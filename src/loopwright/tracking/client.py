"""``Client``: the explicit, run-id-based API over one store and one blob store.

The fluent functions (``lw.start_run``, ``lw.log_metric`` …) use the default client for the
current environment; pass a ``Client`` around when you want to be explicit.
"""

from __future__ import annotations

import json
import logging
import math
import numbers
import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from loopwright.artifacts import BlobStore
from loopwright.config import Settings, get_settings
from loopwright.durations import parse_duration
from loopwright.errors import Conflict, InvalidInput, NotFound
from loopwright.names import validate_artifact_path, validate_key, validate_name
from loopwright.store import (
    ArtifactRef,
    DatasetInput,
    Experiment,
    GcReport,
    MetricPoint,
    Run,
    Store,
    mask_password,
    open_store,
)
from loopwright.store.entities import RunStatus, now_ms
from loopwright.tracking.abandoned import AbandonedRun, find_abandoned, last_activity_ms, owner_tags
from loopwright.tracking.buffer import MetricBuffer
from loopwright.tracking.datasets import fingerprint
from loopwright.tracking.source import source_tags

log = logging.getLogger(__name__)

DEFAULT_EXPERIMENT = "Default"
_ALL_RUNS = 1_000_000  # a search limit above any count of running runs


class Client:
    """Tracking operations against an explicit store and blob store.

    Parameters
    ----------
    store_uri, artifact_uri:
        Default to ``LOOPWRIGHT_STORE_URI`` / ``LOOPWRIGHT_ARTIFACT_URI`` (see :mod:`loopwright.config`).

    Examples
    --------
    >>> import tempfile
    >>> home = tempfile.mkdtemp()
    >>> client = Client(f"sqlite:///{home}/lw.db", f"{home}/artifacts")
    >>> run = client.create_run("demo")
    >>> client.log_metric(run.id, "loss", 0.5)
    >>> client.end_run(run.id).status
    'finished'
    >>> client.get_run(run.id).metrics
    {'loss': 0.5}
    """

    def __init__(
        self,
        store_uri: str | None = None,
        artifact_uri: str | None = None,
        *,
        store: Store | None = None,
        blobs: BlobStore | None = None,
    ):
        settings = get_settings()
        self.settings = settings
        self.store: Store = store if store is not None else open_store(store_uri or settings.store_uri)
        self.blobs = blobs if blobs is not None else self._blob_store(artifact_uri or settings.artifact_uri)
        self._metrics = MetricBuffer(self.store.log_metrics)
        self._running: set[str] = set()  # runs this client knows accept writes
        self._experiment_ids: dict[str, str] = {}  # experiment name → id, for run starts

    def _blob_store(self, artifact_uri: str) -> BlobStore:
        cache = str(self.settings.home / "cache")
        if self.store.uri.startswith(("http://", "https://")):  # a server: its blobs, through it
            from loopwright.store.rest import RestStore
            from loopwright.store.rest_blobs import RestBlobs

            if isinstance(self.store, RestStore):
                return RestBlobs(self.store, cache_dir=cache)
        return BlobStore(artifact_uri, cache_dir=cache)

    def __repr__(self) -> str:
        return f"Client(store={mask_password(self.store.uri)!r}, artifacts={self.blobs.root!r})"

    # -- experiments -------------------------------------------------------------------------
    def create_experiment(self, name: str, tags: Mapping[str, str] | None = None) -> Experiment:
        return self.store.create_experiment(name, _str_map(tags, "tag"))

    def get_experiment(self, name_or_id: str) -> Experiment:
        """An experiment by name (preferred) or id, active or deleted."""
        found = self.store.get_experiment_by_name(name_or_id) if isinstance(name_or_id, str) else None
        if found is not None:
            return found
        try:
            return self.store.get_experiment(name_or_id)
        except NotFound:
            raise NotFound(f"experiment {name_or_id!r} not found") from None

    def get_or_create_experiment(self, name: str) -> Experiment:
        validate_name(name, "experiment name")
        found = self.store.get_experiment_by_name(name)
        if found is None:
            try:
                return self.store.create_experiment(name)
            except Exception:
                found = self.store.get_experiment_by_name(name)  # another process won the race
                if found is None:
                    raise
        if found.lifecycle == "deleted":
            raise Conflict(
                f"experiment {name!r} is deleted; restore it with lw.restore_experiment({name!r}) "
                "or free the name with `loopwright gc`"
            )
        return found

    def list_experiments(self, include_deleted: bool = False) -> list[Experiment]:
        return self.store.list_experiments(include_deleted)

    def delete_experiment(self, name_or_id: str) -> None:
        self.store.delete_experiment(self.get_experiment(name_or_id).id)

    def restore_experiment(self, name_or_id: str) -> None:
        self.store.restore_experiment(self.get_experiment(name_or_id).id)

    # -- runs ----------------------------------------------------------------------------------
    def create_run(
        self,
        experiment: str = DEFAULT_EXPERIMENT,
        name: str | None = None,
        tags: Mapping[str, Any] | None = None,
        parent_id: str | None = None,
    ) -> Run:
        # the code version (entry script, git commit) and the owning process are recorded at start;
        # the caller's tags win
        all_tags = {**source_tags(), **owner_tags(), **_str_map(tags, "tag")}
        known = self._experiment_ids.get(experiment)
        if known is not None:  # one request per run start, not two (the id of a name does not change)
            try:
                run = self.store.create_run(known, name=name, tags=all_tags, parent_id=parent_id)
            except (NotFound, Conflict):  # deleted (or purged) since: look the name up again
                self._experiment_ids.pop(experiment, None)
            else:
                self._running.add(run.id)
                return run
        exp = self.get_or_create_experiment(experiment)
        run = self.store.create_run(exp.id, name=name, tags=all_tags, parent_id=parent_id)
        self._experiment_ids[experiment] = exp.id
        self._running.add(run.id)
        return run

    def get_run(self, run_id: str) -> Run:
        if not isinstance(run_id, str):
            raise InvalidInput(f"run id must be a string, got {type(run_id).__name__}")
        self._flush_quietly()
        return self.store.get_run(run_id)

    def end_run(self, run_id: str, status: RunStatus = "finished", error: str | None = None) -> Run:
        self.flush()
        self._running.discard(run_id)
        return self.store.set_run_status(run_id, status, error=error)

    def resume_run(self, run_id: str) -> Run:
        self.store.set_run_status(run_id, "running")
        self.store.set_tags(run_id, owner_tags())  # this process owns it now
        self._running.add(run_id)
        return self.store.get_run(run_id)

    def mark_failed_runs(
        self, stale: str | float | timedelta | None = None, dry_run: bool = False
    ) -> list[AbandonedRun]:
        """End the running runs nobody will end: those whose process is gone (a run records its
        owner at start; judged on the owner's own host) and, with ``stale`` (``"1h"``), those without
        activity (a param, metric, tag, artifact or dataset write, or the start) for that long.

        Each ends ``failed``, at its last activity, with the reason as its error; a run written to
        meanwhile is left running. ``dry_run`` lists them and ends nothing.
        """
        stale_ms = None if stale is None else parse_duration(stale)
        self._flush_quietly()
        running = self.store.search_runs(None, "status = 'running'", ["start_time ASC"], _ALL_RUNS, 0, True)
        found = find_abandoned(running, stale_ms, now_ms())
        if dry_run:
            return found
        ended = []
        for item in found:
            run = self.store.fail_abandoned_run(
                item.run.id, last_activity_ms(item.run), f"marked failed: {item.reason}"
            )
            if run is not None:
                self._running.discard(run.id)
                ended.append(AbandonedRun(run, item.reason))
        return ended

    def delete_run(self, run_id: str) -> None:
        self.store.delete_run(run_id)

    def restore_run(self, run_id: str) -> None:
        self.store.restore_run(run_id)

    def _require_running(self, run_id: str) -> None:
        if run_id in self._running:
            return
        run = self.store.get_run(run_id)
        if run.status != "running":
            raise Conflict(f"run {run_id!r} is {run.status}; it no longer accepts writes")
        self._running.add(run_id)

    # -- params, metrics, tags ---------------------------------------------------------------
    def log_param(self, run_id: str, key: str, value: Any) -> None:
        self.log_params(run_id, {key: value})

    def log_params(self, run_id: str, params: Mapping[str, Any]) -> None:
        if not isinstance(params, Mapping):
            raise InvalidInput(f"params must be a mapping, got {type(params).__name__}")
        self.store.log_params(run_id, _str_map(params, "param"))

    def set_tags(self, run_id: str, tags: Mapping[str, Any]) -> None:
        self.store.set_tags(run_id, _str_map(tags, "tag"))

    def set_tag(self, run_id: str, key: str, value: Any) -> None:
        self.set_tags(run_id, {key: value})

    def delete_tag(self, run_id: str, key: str) -> None:
        self.store.delete_tag(run_id, key)

    def log_metric(
        self, run_id: str, key: str, value: Any, step: int = 0, timestamp: int | None = None
    ) -> None:
        """Enqueue one metric point; it reaches the store in the next batch (or :meth:`flush`)."""
        self._require_running(run_id)
        self._metrics.add(run_id, _point(key, value, step, timestamp))

    def log_metrics(
        self, run_id: str, metrics: Mapping[str, Any], step: int = 0, timestamp: int | None = None
    ) -> None:
        if not isinstance(metrics, Mapping):
            raise InvalidInput(f"metrics must be a mapping, got {type(metrics).__name__}")
        self._require_running(run_id)
        ts = now_ms() if timestamp is None else timestamp
        self._metrics.extend([(run_id, _point(k, v, step, ts)) for k, v in metrics.items()])

    def log_batch(self, run_id: str, points: Sequence[MetricPoint]) -> None:
        """Enqueue many prepared points (e.g. a whole training curve) at once."""
        self._require_running(run_id)
        self._metrics.extend([(run_id, _point(p.key, p.value, p.step, p.timestamp)) for p in points])

    def flush(self) -> None:
        """Write every buffered metric point now."""
        self._metrics.flush()

    def _flush_quietly(self) -> None:
        try:
            self._metrics.flush()
        except Exception:
            log.exception("metric flush failed")

    def list_metric_history(self, run_id: str, key: str) -> list[MetricPoint]:
        self._flush_quietly()
        return self.store.list_metric_history(run_id, key)

    # -- datasets ------------------------------------------------------------------------------
    def log_dataset(
        self, run_id: str, data: Any, name: str, context: str = "input", source: str | None = None
    ) -> DatasetInput:
        """Record a dataset's fingerprint (digest, schema, row count) as an input of the run."""
        validate_name(name, "dataset name")
        dataset = fingerprint(data, name=name, context=context, source=source)
        self.store.log_dataset_inputs(run_id, [dataset])
        return dataset

    def get_dataset_inputs(self, run_id: str) -> list[DatasetInput]:
        return self.store.get_dataset_inputs(run_id)

    # -- artifacts -----------------------------------------------------------------------------
    def log_artifact(
        self, run_id: str, local_path: str | os.PathLike[str], artifact_path: str | None = None
    ) -> list[ArtifactRef]:
        """Store a file or every file under a folder; names are ``artifact_path/<name>``.

        Inside a folder, links are followed while they stay in it; one leading out of it is refused
        (:func:`folder_files`) before anything is stored.
        """
        source = Path(local_path)
        prefix = _artifact_prefix(artifact_path)
        if source.is_file():
            files = [(source, prefix + source.name)]
        elif source.is_dir():
            files = [(path, f"{prefix}{source.name}/{name}") for path, name in folder_files(source)]
        else:
            raise NotFound(f"no such file or folder: {os.fspath(local_path)!r}")
        return self._store_files(run_id, files)

    def log_artifacts(
        self, run_id: str, local_dir: str | os.PathLike[str], artifact_path: str | None = None
    ) -> list[ArtifactRef]:
        """Store the files inside ``local_dir`` (not the folder's own name) under ``artifact_path``."""
        folder = Path(local_dir)
        if not folder.is_dir():
            raise InvalidInput(f"{os.fspath(local_dir)!r} is not a folder")
        prefix = _artifact_prefix(artifact_path)
        return self._store_files(run_id, [(path, prefix + name) for path, name in folder_files(folder)])

    def _store_files(self, run_id: str, files: Sequence[tuple[Path, str]]) -> list[ArtifactRef]:
        for _, name in files:
            validate_artifact_path(name)
        self._require_running(run_id)
        refs = [ArtifactRef(name, *self.blobs.put_file(path)) for path, name in files]
        self.store.record_artifacts("run", run_id, refs)
        return refs

    def log_bytes(self, run_id: str, data: bytes, artifact_path: str) -> ArtifactRef:
        validate_artifact_path(artifact_path)
        self._require_running(run_id)
        ref = ArtifactRef(artifact_path, *self.blobs.put_bytes(data))
        self.store.record_artifacts("run", run_id, [ref])
        return ref

    def log_text(self, run_id: str, text: str, artifact_path: str) -> ArtifactRef:
        if not isinstance(text, str):
            raise InvalidInput(f"text must be a str, got {type(text).__name__}")
        return self.log_bytes(run_id, text.encode(), artifact_path)

    def log_dict(self, run_id: str, data: Mapping[str, Any], artifact_path: str) -> ArtifactRef:
        """Store a dict as JSON (or YAML when the name ends in .yaml/.yml)."""
        if artifact_path.endswith((".yaml", ".yml")):
            import yaml

            text = yaml.safe_dump(dict(data), sort_keys=False)
        else:
            try:
                text = json.dumps(data, indent=2, default=_json_default)
            except (TypeError, ValueError) as exc:
                raise InvalidInput(f"cannot store {artifact_path!r} as JSON: {exc}") from None
        return self.log_text(run_id, text, artifact_path)

    def list_artifacts(self, run_id: str, prefix: str | None = None) -> list[ArtifactRef]:
        return self.store.list_artifacts("run", run_id, prefix)

    def load_bytes(self, run_id: str, artifact_path: str) -> bytes:
        """An artifact's bytes, verified against the digest its record holds."""
        ref = self.store.get_artifact("run", run_id, validate_artifact_path(artifact_path))
        return self.blobs.get_bytes(ref.digest)

    def load_text(self, run_id: str, artifact_path: str) -> str:
        return self.load_bytes(run_id, artifact_path).decode()

    def load_dict(self, run_id: str, artifact_path: str) -> Any:
        text = self.load_text(run_id, artifact_path)
        if artifact_path.endswith((".yaml", ".yml")):
            import yaml

            return yaml.safe_load(text)
        return json.loads(text)

    def download_artifacts(
        self, run_id: str, artifact_path: str | None = None, dst_path: str | os.PathLike[str] | None = None
    ) -> Path:
        """Copy one artifact, or everything under a prefix, to a local folder (verified)."""
        import tempfile

        target = Path(dst_path) if dst_path is not None else Path(tempfile.mkdtemp(prefix="loopwright-"))
        refs = self.list_artifacts(run_id, artifact_path)
        if not refs:
            raise NotFound(f"run {run_id!r} has no artifact {artifact_path or ''!r}")
        for ref in refs:
            self.blobs.get_file(ref.digest, target / ref.path)
        if artifact_path and len(refs) == 1 and refs[0].path == artifact_path:
            return target / artifact_path
        return target / artifact_path if artifact_path else target

    # -- search --------------------------------------------------------------------------------
    def search_runs(
        self,
        experiment: str | Sequence[str] | None = None,
        filter: str | None = None,
        order_by: Sequence[str] | str | None = None,
        max_results: int = 1000,
        output: Literal["frame", "list"] = "frame",
        include_deleted: bool = False,
        offset: int = 0,
        after_run_id: str | None = None,
    ) -> pd.DataFrame | list[Run]:
        if output not in ("frame", "list"):
            raise InvalidInput(f"output must be 'frame' or 'list', got {output!r}")
        self._flush_quietly()
        experiment_ids = None
        if experiment is not None:
            names = [experiment] if isinstance(experiment, str) else list(experiment)
            experiment_ids = [self.get_experiment(name).id for name in names]
        order = [order_by] if isinstance(order_by, str) else order_by
        runs = self.store.search_runs(
            experiment_ids, filter, order, max_results, offset, include_deleted, after_run_id
        )
        return runs if output == "list" else runs_to_frame(runs)

    def list_child_runs(self, run_id: str) -> list[Run]:
        self._flush_quietly()
        return self.store.search_runs(None, f"parent_id = '{run_id}'", ["start_time ASC"], 10_000, 0, False)

    # -- lifecycle -----------------------------------------------------------------------------
    def gc(
        self,
        grace_seconds: float = 3600.0,
        *,
        predictions_older_than: str | int | timedelta | None = None,
        compact_predictions: str | int | timedelta | None = None,
        label_horizon: str | int | timedelta = "7d",
        deleted_older_than: str | int | timedelta | None = None,
    ) -> GcReport:
        """Purge soft-deleted runs/experiments and every blob no live record points to; optionally
        expire and compact the serving prediction log (:mod:`loopwright.serving.retention`).

        Blobs of purged records go at once; blobs no record ever pointed to (a write in
        flight, a crashed upload) are removed only when older than ``grace_seconds``.
        ``predictions_older_than`` ("30d") unindexes prediction-log files whose rows are all older,
        unless a monitor window, a label join within ``label_horizon``, an ongoing canary, a
        registered version, a run or lineage still needs them; ``compact_predictions`` ("1h", "1d") merges each bucket's
        small files into one. ``deleted_older_than`` ("7d") purges only runs and experiments deleted
        that long ago (restorable until then). ``details["freed"]`` says files, rows and bytes per kind.
        """
        from loopwright.store.rest_blobs import RestBlobs

        options = gc_options(predictions_older_than, compact_predictions, label_horizon, deleted_older_than)
        if isinstance(self.blobs, RestBlobs):  # the server holds the blobs: it collects them
            return self.blobs.collect_garbage(grace_seconds, **options)
        return collect_garbage(self.store, self.blobs, grace_seconds, **options)

    def close(self) -> None:
        self._metrics.close()
        self.store.close()


def _artifact_prefix(artifact_path: str | None) -> str:
    """``artifact_path`` as a name prefix: a trailing '/' just says "a folder"; a leading one is refused."""
    if not artifact_path:
        return ""
    folder = artifact_path.rstrip("/") if isinstance(artifact_path, str) else artifact_path
    return validate_artifact_path(folder) + "/"


def folder_files(folder: Path) -> list[tuple[Path, str]]:
    """Every file under ``folder``: (where its bytes are, its name relative to the folder), by name.

    Links (to files or folders) are followed while they stay inside the folder. One leading out of
    it, or back to a folder above it (a loop), is refused with :class:`InvalidInput`: logging a folder
    never uploads what lies outside it, such as ``/etc/passwd`` behind a link.
    """
    root = folder.resolve()
    files: list[tuple[Path, str]] = []

    def visit(directory: Path, relative: str, ancestors: frozenset[Path]) -> None:
        for entry in sorted(directory.iterdir()):
            name = relative + entry.name
            target = entry.resolve()
            if not target.is_relative_to(root):
                raise InvalidInput(
                    f"{os.fspath(entry)!r} links to {os.fspath(target)!r}, outside the folder being logged "
                    f"({os.fspath(folder)!r}); refusing to store it (copy it in if it belongs to the run)"
                )
            if target.is_dir():
                if target in ancestors:
                    raise InvalidInput(f"{os.fspath(entry)!r} links back to a folder above it (a loop)")
                visit(entry, name + "/", ancestors | {target})
            elif target.is_file():  # the resolved path: what was checked is what is read
                files.append((target, name))

    visit(folder, "", frozenset({root}))
    return files


def _point(key: str, value: Any, step: Any, timestamp: int | None) -> MetricPoint:
    validate_key(key, "metric key")
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InvalidInput(f"metric {key!r} must be a number, got {type(value).__name__} {value!r}")
    if isinstance(step, bool) or not isinstance(step, numbers.Integral):
        raise InvalidInput(f"metric {key!r}: step must be an integer, got {type(step).__name__} {step!r}")
    number = float(value)
    return MetricPoint(key, number, int(step), now_ms() if timestamp is None else int(timestamp))


def _str_map(values: Mapping[str, Any] | None, what: str) -> dict[str, str]:
    if not values:
        return {}
    if not isinstance(values, Mapping):
        raise InvalidInput(f"{what}s must be a mapping of key to value, got {type(values).__name__}")
    out: dict[str, str] = {}
    for key, value in values.items():
        validate_key(key, f"{what} key")
        if value is None:
            raise InvalidInput(f"{what} {key!r} has no value (None)")
        if isinstance(value, float) and math.isnan(value):
            out[key] = "nan"
        else:
            out[key] = value if isinstance(value, str) else str(value)
    return out


def _json_default(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def runs_to_frame(runs: Sequence[Run]) -> pd.DataFrame:
    """Runs as a DataFrame with MLflow's columns: ``run_id``, ``params.<k>``, ``metrics.<k>``, ``tags.<k>``."""
    records = []
    for run in runs:
        record: dict[str, Any] = {
            "run_id": run.id,
            "experiment_id": run.experiment_id,
            "name": run.name,
            "status": run.status,
            "start_time": run.start_time,
            "end_time": run.end_time,
            "parent_id": run.parent_id,
        }
        record.update({f"metrics.{k}": v for k, v in run.metrics.items()})
        record.update({f"params.{k}": v for k, v in run.params.items()})
        record.update({f"tags.{k}": v for k, v in {**run.tags, **run.system_tags}.items()})
        records.append(record)
    columns = ["run_id", "experiment_id", "name", "status", "start_time", "end_time", "parent_id"]
    frame = pd.DataFrame.from_records(records) if records else pd.DataFrame(columns=columns)
    return frame


_default_lock = threading.Lock()
_default_clients: dict[tuple[str, str], Client] = {}
# process state kept above the clients that must go with them (the fluent API's chosen experiment)
_reset_hooks: list[Callable[[], None]] = []


def get_client() -> Client:
    """The shared client for the store and artifact URIs the environment names right now.

    Examples
    --------
    >>> import os, tempfile, loopwright as lw
    >>> os.environ["LOOPWRIGHT_HOME"] = tempfile.mkdtemp()
    >>> client = lw.get_client()
    >>> client is lw.get_client(), client.store.uri.startswith("sqlite:///")
    (True, True)
    >>> del os.environ["LOOPWRIGHT_HOME"]; lw.reset_clients()
    """
    settings: Settings = get_settings()
    return shared_client(settings.store_uri, settings.artifact_uri)


def gc_options(
    predictions_older_than: str | int | timedelta | None,
    compact_predictions: str | int | timedelta | None,
    label_horizon: str | int | timedelta,
    deleted_older_than: str | int | timedelta | None = None,
) -> dict[str, int | None]:
    """:func:`collect_garbage`'s keyword arguments in milliseconds (bad durations refused here)."""
    return {
        "predictions_older_than_ms": (
            None if predictions_older_than is None else parse_duration(predictions_older_than)
        ),
        "compact_predictions_ms": None
        if compact_predictions is None
        else parse_duration(compact_predictions),
        "label_horizon_ms": parse_duration(label_horizon, allow_zero=True),
        "deleted_older_than_ms": (
            None if deleted_older_than is None else parse_duration(deleted_older_than, allow_zero=True)
        ),
    }


def collect_garbage(
    store: Store,
    blobs: BlobStore,
    grace_seconds: float,
    *,
    predictions_older_than_ms: int | None = None,
    compact_predictions_ms: int | None = None,
    label_horizon_ms: int | None = None,
    deleted_older_than_ms: int | None = None,
) -> GcReport:
    """What :meth:`Client.gc` does, for a store and blob root held here (a server's own, say)."""
    from loopwright.serving.retention import DAY_MS, compact_predictions, expire_predictions

    clock = now_ms()
    settle_ms = int(grace_seconds * 1000)
    horizon = 7 * DAY_MS if label_horizon_ms is None else label_horizon_ms
    if compact_predictions_ms is not None and compact_predictions_ms < 60_000:
        raise InvalidInput(f"compact_predictions must be at least 1m, got {compact_predictions_ms} ms")
    # compaction first: files it merges are then judged (and maybe expired) as one
    compacted = (
        compact_predictions(store, blobs, compact_predictions_ms, settle_ms, clock)
        if compact_predictions_ms is not None
        else None
    )
    expired = (
        expire_predictions(store, clock - predictions_older_than_ms, clock, horizon)
        if predictions_older_than_ms is not None
        else None
    )
    report, freed = store.purge_deleted(
        None if deleted_older_than_ms is None else clock - deleted_older_than_ms
    )
    live = store.referenced_digests()
    cutoff = time.time() - grace_seconds
    kinds = {"expired_predictions": expired, "compacted_predictions": compacted}
    freed_by = {kind: {"files": p.files, "rows": p.rows, "bytes": 0} for kind, p in kinds.items() if p}
    freed_by["runs"] = {"files": 0, "rows": report.runs, "bytes": 0}
    freed_by["experiments"] = {"files": 0, "rows": report.experiments, "bytes": 0}
    freed_by["other_blobs"] = {"files": 0, "rows": 0, "bytes": 0}
    count = 0
    freed_bytes = 0
    for blob in blobs.iter_blobs():
        if blob.digest in live:
            continue
        owner = next((k for k, p in kinds.items() if p and blob.digest in p.digests), None)
        if owner is not None or blob.digest in freed or blob.modified <= cutoff:
            size = blobs.delete(blob.digest)
            freed_bytes += size
            count += 1
            kind = owner or ("runs" if blob.digest in freed else "other_blobs")
            freed_by[kind]["bytes"] += size
            if owner is None:
                freed_by[kind]["files"] += 1
    details: dict[str, Any] = {**report.details, "freed": freed_by}
    if compacted is not None:
        details["compacted_files_written"] = compacted.written
    kept = sum((p.kept for p in kinds.values() if p), Counter[str]())
    if kept:
        details["kept_prediction_files"] = dict(kept)
    return GcReport(
        runs=report.runs,
        experiments=report.experiments,
        blobs=count,
        bytes=freed_bytes,
        details=details,
    )


def shared_client(store_uri: str, artifact_uri: str) -> Client:
    """The shared client for these store and artifact URIs (the one :func:`get_client` gives when the
    environment names them), created on first use."""
    key = (store_uri, artifact_uri)
    client = _default_clients.get(key)
    if client is None:
        with _default_lock:
            client = _default_clients.get(key)
            if client is None:
                client = Client(store_uri, artifact_uri)
                _default_clients[key] = client
    return client


def reset_clients() -> None:
    """Flush and forget every cached default client and the experiment ``lw.set_experiment`` chose
    (tests; after changing the environment).

    Examples
    --------
    >>> import os, tempfile, loopwright as lw
    >>> os.environ["LOOPWRIGHT_HOME"] = tempfile.mkdtemp()
    >>> before = lw.get_client()
    >>> _ = lw.set_experiment("churn")
    >>> lw.reset_clients()
    >>> lw.get_client() is before, lw.tracking.fluent.chosen_experiment()
    (False, None)
    >>> del os.environ["LOOPWRIGHT_HOME"]; lw.reset_clients()
    """
    for hook in _reset_hooks:  # first: a hook may still write through the clients (queued traces)
        hook()
    with _default_lock:
        clients = list(_default_clients.values())
        _default_clients.clear()
    for client in clients:
        client.close()
