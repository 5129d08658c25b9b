"""Copy an MLflow tracking store into Loopwright: ``lw.import_mlflow`` / ``loopwright import mlflow``.

The MLflow side is read only through the real MLflow client (``mlflow.MlflowClient``; SQLite, a file store
or an ``http://`` server); ``mlflow`` is imported here only, so it stays a test-only dependency. The
Loopwright side is written through the Store and the Client, keeping MLflow's times:

- experiments by name (tags kept; MLflow's creation time is not: the store stamps its own);
- runs under **the same run id** (MLflow's are 32 hex digits too, so ``runs:/ID/…`` still resolves),
  start/end times, status (KILLED → failed with that error), parent via ``mlflow.parentRunId``, params,
  tags, every metric's full history (``get_metric_history`` per key: step, timestamp, value);
- artifacts downloaded and re-stored content-addressed; MLflow model folders (MLflow 2 run artifacts with
  an ``MLmodel``, MLflow 3 logged models by their name) become Loopwright packages when
  :mod:`.importer_models` can load them, else stay plain artifacts (reason in the report);
- registered models, versions (source run's package, description, tags) and aliases. A version's
  number is Loopwright's next one (equal unless MLflow versions were deleted) and its time is the
  import's; both MLflow values are kept as tags.

Idempotent: a run records ``loopwright.import.mlflow_run_id`` and, once whole, ``loopwright.import.complete``;
a version records ``loopwright.import.mlflow_version``. A re-run skips those, resumes a run cut off
half-way (only the missing metric points are appended) and imports what MLflow gained since.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from loopwright.errors import InvalidInput, LoopwrightError, NotFound
from loopwright.names import validate_artifact_path, validate_key, validate_name
from loopwright.store import ArtifactRef, MetricPoint, Run, mask_password
from loopwright.store.entities import RunStatus
from loopwright.tracking.client import Client

RUN_TAG = "loopwright.import.mlflow_run_id"
COMPLETE_TAG = "loopwright.import.complete"
SOURCE_TAG = "loopwright.import.source"
EXPERIMENT_TAG = "loopwright.import.mlflow_experiment_id"
VERSION_TAG = "loopwright.import.mlflow_version"
VERSION_TIME_TAG = "loopwright.import.mlflow_created_ms"
STAGE_TAG = "loopwright.import.mlflow_stage"
UNPICKLED_TAG = "loopwright.import.unpickled"
ACTOR = "loopwright-import"
_STATUS: dict[str, RunStatus] = {"FINISHED": "finished", "FAILED": "failed", "KILLED": "failed"}
_METRIC_BATCH = 5000
_PAGE = 1000

Progress = Callable[[int, int, str], None]


@dataclass(frozen=True)
class ImportItem:
    """One thing the importer looked at: ``kind`` (experiment, run, artifact, model, version, alias)."""

    kind: str
    name: str
    imported: bool
    reason: str = ""


@dataclass
class ImportReport:
    """What :func:`import_mlflow` imported and what it skipped, with the reason.

    Examples
    --------
    >>> report = ImportReport()
    >>> report.add("run", "abc", True); report.add("run", "def", False, "already imported")
    >>> report.counts()["run"], report.skipped("run")[0].reason
    ((1, 1), 'already imported')
    """

    items: list[ImportItem] = field(default_factory=list)

    def add(self, kind: str, name: str, imported: bool, reason: str = "") -> None:
        self.items.append(ImportItem(kind, name, imported, reason))

    def imported(self, kind: str) -> list[ImportItem]:
        return [i for i in self.items if i.kind == kind and i.imported]

    def skipped(self, kind: str) -> list[ImportItem]:
        return [i for i in self.items if i.kind == kind and not i.imported]

    def counts(self) -> dict[str, tuple[int, int]]:
        """kind → (imported, skipped), in the order kinds were first seen."""
        out: dict[str, tuple[int, int]] = {}
        for item in self.items:
            done, skipped = out.get(item.kind, (0, 0))
            out[item.kind] = (done + item.imported, skipped + (not item.imported))
        return out


def import_mlflow(
    tracking_uri: str,
    experiments: Sequence[str] | None = None,
    allow_pickle: bool = False,
    *,
    registry_uri: str | None = None,
    client: Client | None = None,
    progress: Progress | None = None,
) -> ImportReport:
    """Copy an MLflow tracking store (``sqlite:///mlflow.db``, ``http://host:5000``, ``./mlruns``) here.

    Parameters
    ----------
    tracking_uri, registry_uri:
        Where MLflow's runs and registered models are (the registry defaults to the tracking URI).
    experiments:
        Experiment names to import (default: all, deleted ones included, kept deleted); registered
        versions of runs outside them are skipped.
    allow_pickle:
        Import models whose loading unpickles (sklearn saved with pickle/cloudpickle, python_function
        models); they are tagged ``loopwright.import.unpickled``. Without it they stay plain artifacts.
    client:
        The Loopwright store and blobs to write to (default: the environment's).
    progress:
        Called as ``progress(done, total, run_name)`` after each run.

    Examples
    --------
    >>> import loopwright as lw, mlflow, os, tempfile
    >>> home = tempfile.mkdtemp(); src = f"sqlite:///{home}/mlflow.db"
    >>> ml = mlflow.MlflowClient(src)
    >>> exp = ml.create_experiment("churn", artifact_location=f"{home}/mlartifacts")
    >>> run = ml.create_run(exp); ml.log_metric(run.info.run_id, "loss", 0.5, step=1)
    >>> ml.set_terminated(run.info.run_id)
    >>> client = lw.Client(f"sqlite:///{home}/lw.db", f"{home}/artifacts")
    >>> report = lw.import_mlflow(src, client=client)
    >>> report.counts()["run"], client.get_run(run.info.run_id).metrics
    ((1, 0), {'loss': 0.5})
    >>> lw.import_mlflow(src, client=client).counts()["run"]  # a re-run duplicates nothing
    (0, 1)
    """
    try:
        import mlflow
    except ImportError:
        raise InvalidInput(
            "importing from MLflow needs the mlflow client: pip install mlflow-skinny"
        ) from None
    if not isinstance(tracking_uri, str) or not tracking_uri:
        raise InvalidInput("tracking_uri must be an MLflow tracking URI such as sqlite:///mlflow.db")
    # MLflow's own tqdm bars would interleave with ours
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    ml = mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=registry_uri or tracking_uri)
    owned = client is None
    target = client if client is not None else Client()
    try:
        importer = _Importer(ml, target, tracking_uri, allow_pickle, progress)
        importer.run(list(experiments) if experiments else None)
        return importer.report
    finally:
        if owned:
            target.close()


class _Importer:
    def __init__(self, ml: Any, client: Client, uri: str, allow_pickle: bool, progress: Progress | None):
        self.ml = ml
        self.client = client
        self.store = client.store
        self.source = mask_password(uri)
        self.uri = uri
        self.allow_pickle = allow_pickle
        self.progress = progress
        self.report = ImportReport()
        self.runs_done: set[str] = set()  # MLflow run ids present in Loopwright after this import
        self.logged_models: dict[str, tuple[str, str]] = {}  # MLflow model id → (run id, artifact path)
        self.unpickled: set[tuple[str, str]] = set()  # (run id, path) of packages made by unpickling

    def run(self, names: list[str] | None) -> None:
        from mlflow.entities import ViewType

        found = _pages(
            lambda page_token: self.ml.search_experiments(view_type=ViewType.ALL, page_token=page_token)
        )
        if names is not None:
            missing = sorted(set(names) - {e.name for e in found})
            if missing:
                raise NotFound(f"MLflow experiment(s) not found at {self.source}: {', '.join(missing)}")
            found = [e for e in found if e.name in names]
        plan: list[tuple[Any, str]] = []  # (MLflow run, Loopwright experiment id)
        deleted: list[str] = []
        for exp in found:
            target = self._experiment(exp)
            if target is None:
                continue
            if exp.lifecycle_stage == "deleted":
                deleted.append(target)
            search = partial(self.ml.search_runs, [exp.experiment_id], run_view_type=ViewType.ALL)
            runs = _pages(partial(search, max_results=_PAGE))
            plan.extend((r, target) for r in runs)
            self._index_logged_models(exp.experiment_id)
        ordered = _parents_first([r for r, _ in plan])
        where = {r.info.run_id: e for r, e in plan}
        for done, mlrun in enumerate(ordered, 1):
            self._run(mlrun, where[mlrun.info.run_id])
            if self.progress is not None:
                self.progress(done, len(ordered), mlrun.info.run_name or mlrun.info.run_id)
        for experiment_id in deleted:  # after their runs: a deleted experiment takes no new runs
            if self.store.get_experiment(experiment_id).lifecycle != "deleted":
                self.store.delete_experiment(experiment_id)
        self._registry()

    # -- experiments ---------------------------------------------------------------------------
    def _experiment(self, exp: Any) -> str | None:
        existing = self.store.get_experiment_by_name(exp.name)
        if existing is not None:
            ours = existing.tags.get(EXPERIMENT_TAG) == str(exp.experiment_id)
            self.report.add(
                "experiment", exp.name, False, "already imported" if ours else "exists: runs merged into it"
            )
            if existing.lifecycle == "deleted":
                self.store.restore_experiment(existing.id)  # re-deleted after its runs if MLflow's is
            return existing.id
        try:
            validate_name(exp.name, "experiment name")
        except InvalidInput as error:
            self.report.add("experiment", exp.name, False, f"{error} (its runs are skipped)")
            return None
        tags, _ = _valid_tags(exp.tags)
        tags[EXPERIMENT_TAG] = str(exp.experiment_id)
        created = self.store.create_experiment(exp.name, tags)
        self.report.add("experiment", exp.name, True)
        return created.id

    # -- runs ----------------------------------------------------------------------------------
    def _run(self, mlrun: Any, experiment_id: str) -> None:
        info, data = mlrun.info, mlrun.data
        run_id, label = info.run_id, info.run_name or info.run_id
        try:
            existing: Run | None = self.store.get_run(run_id)
        except (NotFound, InvalidInput):
            existing = None
        if existing is not None and existing.system_tags.get(COMPLETE_TAG) == "true":
            self.runs_done.add(run_id)
            self.report.add("run", label, False, "already imported")
            return
        if existing is not None and existing.system_tags.get(RUN_TAG) != run_id:
            self.report.add("run", label, False, "a Loopwright run with this id exists (not an import)")
            return
        tags, bad = _valid_tags(data.tags)
        tags.update({RUN_TAG: run_id, SOURCE_TAG: self.source})
        parent = data.tags.get("mlflow.parentRunId")
        if parent is not None and parent not in self.runs_done:
            bad.append(f"parent {parent} not imported")
            parent = None
        if existing is None:
            self.store.create_run(
                experiment_id, name=info.run_name or None, tags=tags, parent_id=parent,
                start_ms=info.start_time, run_id=run_id,
            )  # fmt: skip
            resumed = ""
        else:  # cut off half-way by an earlier import: finish it
            if existing.status != "running":
                self.store.set_run_status(run_id, "running")
            self.store.set_tags(run_id, tags)
            resumed = " (resumed)"
        params, bad_params = _valid_map(data.params)
        self.store.log_params(run_id, params)
        self._metrics(run_id, list(data.metrics), resumed != "")
        self._artifacts(run_id)
        status = _STATUS.get(info.status)
        if status is not None:
            error = "KILLED in MLflow" if info.status == "KILLED" else None
            self.store.set_run_status(run_id, status, end_ms=info.end_time, error=error)
        self.store.set_tags(run_id, {COMPLETE_TAG: "true"})
        if info.lifecycle_stage == "deleted":
            self.store.delete_run(run_id)
        self.runs_done.add(run_id)
        dropped = bad + bad_params
        self.report.add("run", label, True, "; ".join(dropped) + resumed if dropped else resumed.strip())

    def _metrics(self, run_id: str, keys: list[str], resumed: bool) -> None:
        points: list[tuple[str, MetricPoint]] = []
        for key in keys:
            try:
                validate_key(key, "metric key")
            except InvalidInput:
                self.report.add("metric", f"{run_id[:8]}/{key}", False, "not a valid Loopwright metric key")
                continue
            history = self.ml.get_metric_history(run_id, key)
            # an interrupted import wrote a prefix of each history (in order): append only the rest
            have = len(self.store.list_metric_history(run_id, key)) if resumed else 0
            history.sort(key=lambda m: (m.step, m.timestamp))
            points.extend(
                (run_id, MetricPoint(key, float(m.value), int(m.step), int(m.timestamp)))
                for m in history[have:]
            )
        for start in range(0, len(points), _METRIC_BATCH):
            self.store.log_metrics(points[start : start + _METRIC_BATCH])

    def _artifacts(self, run_id: str) -> None:
        import mlflow.artifacts

        with tempfile.TemporaryDirectory(prefix="loopwright-import-") as tmp:
            root = Path(tmp) / "run"
            root.mkdir()
            if self.ml.list_artifacts(run_id):
                mlflow.artifacts.download_artifacts(run_id=run_id, dst_path=str(root), tracking_uri=self.uri)
            models = sorted({p.parent for p in root.rglob("MLmodel")}, key=lambda p: len(p.parts))
            models = [m for m in models if not any(o in m.parents for o in models)]  # outermost only
            plain = [
                p for p in sorted(root.rglob("*")) if p.is_file() and not any(m in p.parents for m in models)
            ]
            self._store_files(run_id, root, plain, "")
            for folder in models:
                self._model(run_id, folder, folder.relative_to(root).as_posix())
            for model_id, (owner, path) in self.logged_models.items():
                if owner == run_id:
                    uri = self.ml.get_logged_model(model_id).artifact_location
                    local = mlflow.artifacts.download_artifacts(
                        artifact_uri=uri, dst_path=str(Path(tmp) / model_id), tracking_uri=self.uri
                    )
                    self._model(run_id, Path(local), path)

    def _store_files(self, run_id: str, root: Path, files: Iterable[Path], prefix: str) -> None:
        refs = []
        for path in files:
            name = prefix + path.relative_to(root).as_posix()
            try:
                validate_artifact_path(name)
            except InvalidInput as error:
                self.report.add("artifact", f"{run_id[:8]}/{name}", False, str(error))
                continue
            refs.append(ArtifactRef(name, *self.client.blobs.put_file(path)))
        if refs:
            self.store.record_artifacts("run", run_id, refs)
            for ref in refs:
                self.report.add("artifact", f"{run_id[:8]}/{ref.path}", True)

    def _model(self, run_id: str, folder: Path, path: str) -> None:
        from loopwright.compat.mlflow.importer_models import NotConvertible, load_native
        from loopwright.models.package import log_model

        label = f"{run_id[:8]}/{path}"
        try:
            native = load_native(folder, self.allow_pickle)
            metadata = {"mlflow_import": {"flavor": native.mlflow_flavor, "unpickled": native.unpickled}}
            log_model(
                native.model, path, input_example=native.input_example, metadata=metadata,
                allow_pickle=native.unpickled, flavor=native.flavor, run_id=run_id, client=self.client,
            )  # fmt: skip
        except (NotConvertible, LoopwrightError, ImportError) as error:
            self._store_files(
                run_id, folder, [p for p in sorted(folder.rglob("*")) if p.is_file()], path + "/"
            )
            self.report.add("model", label, False, f"kept as plain artifacts: {error}")
            return
        if native.unpickled:
            self.unpickled.add((run_id, path))
            self.store.set_tags(run_id, {UNPICKLED_TAG: "true"})
        note = "unpickled with --allow-pickle" if native.unpickled else ""
        self.report.add("model", f"{label} ({native.mlflow_flavor})", True, note)

    def _index_logged_models(self, experiment_id: str) -> None:
        """MLflow 3 logs models outside the run's artifacts: map each to (its run, its name)."""
        search = getattr(self.ml, "search_logged_models", None)
        if search is None:  # MLflow 2: models are run artifacts
            return
        for model in _pages(lambda page_token: search(experiment_ids=[experiment_id], page_token=page_token)):
            if model.source_run_id:
                self.logged_models[model.model_id] = (model.source_run_id, model.name)
            else:
                self.report.add(
                    "model", model.name, False, f"logged model {model.model_id} has no source run"
                )

    # -- registry ------------------------------------------------------------------------------
    def _registry(self) -> None:
        for model in _pages(
            lambda page_token: self.ml.search_registered_models(max_results=_PAGE, page_token=page_token)
        ):
            try:
                validate_name(model.name, "model name")
            except InvalidInput as error:
                self.report.add("registered model", model.name, False, str(error))
                continue
            self._registered_model(model)

    def _registered_model(self, model: Any) -> None:
        name = model.name
        versions = _pages(
            lambda page_token: self.ml.search_model_versions(
                f"name = '{name}'", max_results=_PAGE, page_token=page_token
            )
        )
        have = {
            v.tags[VERSION_TAG]: v.version
            for v in self.store.search_model_versions(f"name = '{name}'", max_results=100_000)
            if VERSION_TAG in v.tags
        }
        mapping = dict(have)
        changed = False
        for version in sorted(versions, key=lambda v: int(v.version)):
            label = f"{name}/{version.version}"
            if str(version.version) in have:
                self.report.add("version", label, False, "already imported")
                continue
            made = self._version(name, version, label)
            if made is not None:
                mapping[str(version.version)] = made
                changed = True
        if not mapping:
            self.report.add("registered model", name, False, "no version imported")
            return
        current = self.store.get_registered_model(name)
        if model.description and current.description != model.description:
            self.store.update_registered_model(name, model.description, actor=ACTOR)
            changed = True
        tags, _ = _valid_tags(model.tags)
        for key, value in tags.items():
            if current.tags.get(key) != value:
                self.store.set_registered_model_tag(name, key, value, actor=ACTOR)
                changed = True
        self.report.add("registered model", name, changed, "" if changed else "already imported")
        for alias, version in (model.aliases or {}).items():
            target = mapping.get(str(version))
            if target is None:
                self.report.add("alias", f"{name}@{alias}", False, f"version {version} was not imported")
            elif current.aliases.get(alias) == target:
                self.report.add("alias", f"{name}@{alias}", False, "already set")
            else:
                self.store.set_alias(name, alias, target, actor=ACTOR)
                self.report.add("alias", f"{name}@{alias}", True)

    def _version(self, name: str, version: Any, label: str) -> int | None:
        run_id, path = self._version_source(version)
        if run_id is not None and run_id not in self.runs_done:
            self.report.add("version", label, False, f"its run {run_id} was not imported (not selected)")
            return None
        tags, _ = _valid_tags(version.tags)
        tags.update({VERSION_TAG: str(version.version), VERSION_TIME_TAG: str(version.creation_timestamp)})
        if version.current_stage and version.current_stage != "None":
            tags[STAGE_TAG] = version.current_stage
        manifest = prefix = None
        if run_id is not None and path is not None:
            try:
                manifest = self.store.get_artifact("run", run_id, f"{path}/manifest.json").digest
            except NotFound:
                manifest = None
            prefix = path if self.store.list_artifacts("run", run_id, prefix=path + "/") else None
            if (run_id, path) in self.unpickled:
                tags[UNPICKLED_TAG] = "true"
        source = f"runs:/{run_id}/{path}" if run_id is not None and path is not None else version.source
        try:
            made = self.store.create_model_version(
                name, source, actor=ACTOR, run_id=run_id, manifest_digest=manifest,
                artifact_prefix=prefix, tags=tags, description=version.description or None,
            )  # fmt: skip
        except LoopwrightError as error:
            self.report.add("version", label, False, str(error))
            return None
        note = "" if manifest else "no Loopwright package (files only)" if prefix else "no files"
        self.report.add("version", label, True, note)
        return made.version

    def _version_source(self, version: Any) -> tuple[str | None, str | None]:
        """(run id, artifact path) of the package a version names, from ``models:/m-…`` or ``runs:/…``."""
        model_id = getattr(version, "model_id", None)
        source = str(version.source or "")
        if not model_id and source.startswith("models:/m-"):
            model_id = source.removeprefix("models:/")
        if model_id and model_id in self.logged_models:
            return self.logged_models[model_id]
        if source.startswith("runs:/"):
            run_id, _, path = source.removeprefix("runs:/").partition("/")
            return run_id, path.strip("/") or None
        return version.run_id or None, None


def _pages(fetch: Callable[..., Any]) -> list[Any]:
    """Every item of a paged MLflow listing."""
    items: list[Any] = []
    token = None
    while True:
        page = fetch(page_token=token)
        items.extend(page)
        token = getattr(page, "token", None)
        if not token:
            return items


def _parents_first(runs: list[Any]) -> list[Any]:
    """Runs ordered so a parent comes before its children (start time otherwise)."""
    by_id = {r.info.run_id: r for r in runs}
    ordered: list[Any] = []
    seen: set[str] = set()

    def visit(run: Any, chain: frozenset[str]) -> None:
        run_id = run.info.run_id
        if run_id in seen or run_id in chain:
            return
        parent = by_id.get(run.data.tags.get("mlflow.parentRunId", ""))
        if parent is not None:
            visit(parent, chain | {run_id})
        seen.add(run_id)
        ordered.append(run)

    for run in sorted(runs, key=lambda r: (r.info.start_time or 0, r.info.run_id)):
        visit(run, frozenset())
    return ordered


def _valid_map(values: dict[str, str]) -> tuple[dict[str, str], list[str]]:
    good, bad = {}, []
    for key, value in (values or {}).items():
        try:
            good[validate_key(key)] = str(value)
        except InvalidInput:
            bad.append(f"key {key!r} is not a valid Loopwright key")
    return good, bad


def _valid_tags(tags: dict[str, str]) -> tuple[dict[str, str], list[str]]:
    """Tags Loopwright accepts; ``loopwright.*`` tags from the source are dropped (the importer owns them)."""
    good, bad = _valid_map({k: v for k, v in (tags or {}).items() if not k.startswith("loopwright.")})
    return good, bad
