"""MLflow-shaped views of Loopwright's records: ``Run(info, data)``, ``Experiment``, ``ModelVersion`` …

They are built from Loopwright entities on each read and own no data. Statuses are upper case
(``FINISHED``); a run ended with ``status="KILLED"`` is ``failed`` in Loopwright with the tag
``loopwright.mlflow.status = KILLED``, shown here as ``KILLED``. A run's ``artifact_uri`` is
``runs:/RUN_ID``: every call that takes an MLflow artifact location accepts it.

Examples
--------
>>> from datetime import datetime, timezone
>>> import loopwright as lw
>>> run = lw.Run("4f1c9e", "1", "baseline", "finished", datetime(2026, 1, 1, tzinfo=timezone.utc),
...              params={"C": "0.5"}, metrics={"auc": 0.91})
>>> shaped = to_run(run)
>>> shaped.info.run_id, shaped.info.status, shaped.info.artifact_uri, shaped.data.tags["mlflow.runName"]
('4f1c9e', 'FINISHED', 'runs:/4f1c9e', 'baseline')
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from loopwright.store.entities import Experiment as LwExperiment
from loopwright.store.entities import ModelVersion as LwModelVersion
from loopwright.store.entities import RegisteredModel as LwRegisteredModel
from loopwright.store.entities import Run as LwRun

KILLED_TAG = "loopwright.mlflow.status"


class ViewType:
    """MLflow's run/experiment view types."""

    ACTIVE_ONLY = 1
    DELETED_ONLY = 2
    ALL = 3


class RunStatus:
    """MLflow's run status names."""

    RUNNING = "RUNNING"
    SCHEDULED = "SCHEDULED"
    FINISHED = "FINISHED"
    FAILED = "FAILED"
    KILLED = "KILLED"


def _ms(moment: datetime | None) -> int | None:
    return None if moment is None else int(moment.timestamp() * 1000)


@dataclass(frozen=True)
class Experiment:
    experiment_id: str
    name: str
    artifact_location: str
    lifecycle_stage: str
    tags: dict[str, str] = field(default_factory=dict)
    creation_time: int | None = None
    last_update_time: int | None = None


@dataclass(frozen=True)
class RunInfo:
    run_id: str
    experiment_id: str
    run_name: str
    user_id: str
    status: str
    start_time: int | None
    end_time: int | None
    artifact_uri: str
    lifecycle_stage: str

    @property
    def run_uuid(self) -> str:
        return self.run_id


@dataclass(frozen=True)
class RunData:
    metrics: dict[str, float] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Run:
    info: RunInfo
    data: RunData


@dataclass(frozen=True)
class Metric:
    key: str
    value: float
    timestamp: int
    step: int


@dataclass(frozen=True)
class Param:
    key: str
    value: str


@dataclass(frozen=True)
class RunTag:
    key: str
    value: str


@dataclass(frozen=True)
class FileInfo:
    path: str
    is_dir: bool
    file_size: int | None


@dataclass(frozen=True)
class ModelVersion:
    name: str
    version: str
    creation_timestamp: int | None
    last_updated_timestamp: int | None
    description: str | None
    user_id: str | None
    current_stage: str
    source: str
    run_id: str | None
    status: str
    tags: dict[str, str] = field(default_factory=dict)
    aliases: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class RegisteredModel:
    name: str
    creation_timestamp: int | None
    last_updated_timestamp: int | None
    description: str | None
    tags: dict[str, str] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)


def status_of(run: LwRun) -> str:
    """``RUNNING`` / ``FINISHED`` / ``FAILED``, or ``KILLED`` for a run ended that way through the shim."""
    if {**run.system_tags, **run.tags}.get(KILLED_TAG) == "KILLED":
        return "KILLED"
    return run.status.upper()


def run_tags(run: LwRun) -> dict[str, str]:
    """The run's tags plus the ``mlflow.*`` tags MLflow derives from its attributes."""
    tags = {**run.system_tags, **run.tags}
    tags["mlflow.runName"] = run.name
    if run.parent_id:
        tags["mlflow.parentRunId"] = run.parent_id
    if "loopwright.user" in tags:
        tags.setdefault("mlflow.user", tags["loopwright.user"])
    if "loopwright.source.name" in tags:
        tags.setdefault("mlflow.source.name", tags["loopwright.source.name"])
    if "loopwright.source.git_commit" in tags:
        tags.setdefault("mlflow.source.git.commit", tags["loopwright.source.git_commit"])
    return tags


def to_run(run: LwRun) -> Run:
    tags = run_tags(run)
    info = RunInfo(
        run_id=run.id,
        experiment_id=run.experiment_id,
        run_name=run.name,
        user_id=tags.get("mlflow.user", ""),
        status=status_of(run),
        start_time=_ms(run.start_time),
        end_time=_ms(run.end_time),
        artifact_uri=f"runs:/{run.id}",
        lifecycle_stage=run.lifecycle,
    )
    return Run(info, RunData(dict(run.metrics), dict(run.params), tags))


def to_experiment(experiment: LwExperiment) -> Experiment:
    return Experiment(
        experiment_id=experiment.id,
        name=experiment.name,
        artifact_location=f"experiments:/{experiment.id}",
        lifecycle_stage=experiment.lifecycle,
        tags=dict(experiment.tags),
        creation_time=_ms(experiment.created_at),
        last_update_time=_ms(experiment.deleted_at or experiment.created_at),
    )


def to_model_version(version: LwModelVersion) -> ModelVersion:
    return ModelVersion(
        name=version.name,
        version=str(version.version),
        creation_timestamp=_ms(version.created_at),
        last_updated_timestamp=_ms(version.updated_at or version.created_at),
        description=version.description,
        user_id=version.created_by,
        current_stage="None",  # stages are deprecated in MLflow; Loopwright has aliases only
        source=version.source,
        run_id=version.run_id,
        status="READY" if version.status == "ready" else version.status.upper(),
        tags=dict(version.tags),
        aliases=list(version.aliases),
    )


def to_registered_model(model: LwRegisteredModel) -> RegisteredModel:
    return RegisteredModel(
        name=model.name,
        creation_timestamp=_ms(model.created_at),
        last_updated_timestamp=_ms(model.updated_at or model.created_at),
        description=model.description,
        tags=dict(model.tags),
        aliases={alias: str(version) for alias, version in model.aliases.items()},
    )
