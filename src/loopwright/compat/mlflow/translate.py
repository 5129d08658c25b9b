"""MLflow ↔ Loopwright entities: the JSON shapes of MLflow's REST protos, built from Store entities.

MLflow's wire format is protobuf JSON (``service.proto``, ``model_registry.proto``): times in
milliseconds, statuses upper-case, tags as ``[{"key", "value"}]`` lists. Loopwright keeps the data;
this module only reshapes it. Two mappings need a decision:

- **The Default experiment.** MLflow clients address the default experiment as id ``"0"``; Loopwright
  maps it to its experiment named ``Default`` (created on first use) and answers with that
  experiment's own id.
- **KILLED.** Loopwright's runs end ``finished`` or ``failed``; an MLflow ``KILLED`` run is stored as
  ``failed`` with the system tag ``loopwright.mlflow.status = KILLED`` and reported back as ``KILLED``.

A run's ``artifact_uri`` is ``mlflow-artifacts:/runs/RUN_ID``: MLflow clients send its files through
the server's artifact proxy, where they become the run's artifacts (content-addressed blobs).

Examples
--------
>>> mlflow_status("failed", {"loopwright.mlflow.status": "KILLED"}), mlflow_status("running", {})
('KILLED', 'RUNNING')
>>> proto_float(float("nan")), proto_float(-float("inf")), proto_float(0.5)
('NaN', '-Infinity', 0.5)
>>> loopwright_status("KILLED")
('failed', True)
>>> artifact_owner("runs/0123abcd/plots/roc.png")
('run', '0123abcd', 'plots/roc.png')
>>> artifact_owner("models/churn/versions/3/MLmodel")
('model_version', 'churn/3', 'MLmodel')
>>> source_prefix("runs:/0123abcd/model", "0123abcd"), source_prefix("mlflow-artifacts:/runs/0123abcd/model", None)
('model', 'model')
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from loopwright.errors import InvalidInput
from loopwright.store.entities import (
    SYSTEM_TAG_PREFIX,
    Experiment,
    MetricPoint,
    ModelVersion,
    RegisteredModel,
    Run,
    RunStatus,
)

DEFAULT_EXPERIMENT_ID = "0"
DEFAULT_EXPERIMENT_NAME = "Default"
#: the system tag recording that an MLflow client ended a run as KILLED
KILLED_TAG = f"{SYSTEM_TAG_PREFIX}mlflow.status"
ARTIFACT_SCHEME = "mlflow-artifacts:"

_STATUSES: dict[str, RunStatus] = {
    "RUNNING": "running",
    "SCHEDULED": "running",
    "FINISHED": "finished",
    "FAILED": "failed",
    "KILLED": "failed",
}
_VIEW_TYPES = {"ACTIVE_ONLY": "1", "DELETED_ONLY": "2", "ALL": "3"}


def ms(moment: datetime | None) -> int | None:
    """An aware datetime as integer milliseconds since the epoch (``None`` stays ``None``)."""
    return None if moment is None else int(moment.timestamp() * 1000)


def proto_float(value: float) -> float | str:
    """A double as protobuf JSON writes it: non-finite values as the strings ``NaN``, ``Infinity``."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return value


def tag_list(tags: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"key": key, "value": value} for key, value in tags.items()]


def tag_dict(tags: object, what: str = "tags") -> dict[str, str]:
    """``[{"key", "value"}]`` (as MLflow sends tags, params) to a dict; anything else is refused."""
    if tags is None:
        return {}
    if not isinstance(tags, list):
        raise InvalidInput(f"{what} must be a list of {{key, value}} objects")
    result = {}
    for item in tags:
        if not isinstance(item, dict) or "key" not in item:
            raise InvalidInput(f"{what} must be a list of {{key, value}} objects")
        result[str(item["key"])] = "" if item.get("value") is None else str(item["value"])
    return result


def mlflow_status(status: str, system_tags: Mapping[str, str]) -> str:
    """A Loopwright run status as MLflow's upper-case ``RunStatus``."""
    if status == "failed" and system_tags.get(KILLED_TAG) == "KILLED":
        return "KILLED"
    return status.upper()


def loopwright_status(status: object) -> tuple[RunStatus, bool]:
    """An MLflow ``RunStatus`` name as (Loopwright status, whether it was KILLED)."""
    found = _STATUSES.get(str(status).upper())
    if found is None:
        raise InvalidInput(f"unknown run status {status!r}: use one of {', '.join(_STATUSES)}")
    return found, str(status).upper() == "KILLED"


def view_type(value: object) -> str:
    """MLflow's ``ViewType`` (name or number) as "1" active, "2" deleted, "3" all."""
    if value in (None, ""):
        return "1"
    text = str(value).upper()
    found = _VIEW_TYPES.get(text, text if text in _VIEW_TYPES.values() else None)
    if found is None:
        raise InvalidInput(f"unknown view type {value!r}: use ACTIVE_ONLY, DELETED_ONLY or ALL")
    return found


def run_artifact_uri(run_id: str) -> str:
    return f"{ARTIFACT_SCHEME}/runs/{run_id}"


def artifact_owner(path: str) -> tuple[str, str, str]:
    """A proxy path (``runs/ID/…`` or ``models/NAME/versions/V/…``) as (owner type, owner id, file)."""
    parts = path.strip("/").split("/")
    if len(parts) >= 2 and parts[0] == "runs":
        return "run", parts[1], "/".join(parts[2:])
    if len(parts) >= 4 and parts[0] == "models" and parts[2] == "versions":
        return "model_version", f"{parts[1]}/{parts[3]}", "/".join(parts[4:])
    raise InvalidInput(
        f"artifact path {path!r} names no run or model version: use runs/RUN_ID/… or models/NAME/versions/V/…"
    )


def source_prefix(source: str, run_id: str | None) -> str | None:
    """The run artifact folder a model version's ``source`` names, if it names one of ``run_id``'s."""
    for scheme in ("runs:/", f"{ARTIFACT_SCHEME}/runs/", f"{ARTIFACT_SCHEME}runs/"):
        if source.startswith(scheme):
            source_run, _, prefix = source[len(scheme) :].partition("/")
            if run_id is None or source_run == run_id:
                return prefix.strip("/") or None
    return None


def logged_model_id(source: str) -> str | None:
    """The logged model a ``models:/m-…`` source names (MLflow 3), else ``None``."""
    rest = source[len("models:/") :] if source.startswith("models:/") else ""
    return rest if rest.startswith("m-") and "/" not in rest and "@" not in rest else None


def experiment_json(experiment: Experiment) -> dict[str, Any]:
    created = ms(experiment.created_at)
    return {
        "experiment_id": experiment.id,
        "name": experiment.name,
        "artifact_location": f"{ARTIFACT_SCHEME}/experiments/{experiment.id}",
        "lifecycle_stage": experiment.lifecycle,
        "creation_time": created,
        "last_update_time": ms(experiment.deleted_at) or created,
        "tags": tag_list(experiment.tags),
    }


def run_info_json(run: Run) -> dict[str, Any]:
    info = {
        "run_id": run.id,
        "run_uuid": run.id,
        "run_name": run.name,
        "experiment_id": run.experiment_id,
        "user_id": run.tags.get("mlflow.user", ""),
        "status": mlflow_status(run.status, run.system_tags),
        "start_time": ms(run.start_time),
        "end_time": ms(run.end_time),
        "artifact_uri": run_artifact_uri(run.id),
        "lifecycle_stage": run.lifecycle,
    }
    return {key: value for key, value in info.items() if value is not None}


def run_json(run: Run) -> dict[str, Any]:
    """A run as MLflow's ``Run``: ``info`` and ``data`` (latest metric values; their step is 0)."""
    stamp = ms(run.last_activity or run.start_time)
    tags = {**run.tags, **run.system_tags}
    tags.setdefault("mlflow.runName", run.name)
    if run.parent_id:
        tags.setdefault("mlflow.parentRunId", run.parent_id)
    return {
        "info": run_info_json(run),
        "data": {
            "metrics": [
                {"key": key, "value": proto_float(value), "timestamp": stamp, "step": 0}
                for key, value in run.metrics.items()
            ],
            "params": tag_list(run.params),
            "tags": tag_list(tags),
        },
    }


def metric_json(point: MetricPoint) -> dict[str, Any]:
    return {
        "key": point.key,
        "value": proto_float(point.value),
        "timestamp": point.timestamp,
        "step": point.step,
    }


def model_version_json(version: ModelVersion) -> dict[str, Any]:
    created = ms(version.created_at)
    return {
        "name": version.name,
        "version": str(version.version),
        "creation_timestamp": created,
        "last_updated_timestamp": ms(version.updated_at) or created,
        "user_id": version.created_by or "",
        "current_stage": "Archived" if version.status == "archived" else "None",
        "description": version.description or "",
        "source": version.source,
        "run_id": version.run_id or "",
        "status": "READY",
        "tags": tag_list(version.tags),
        "aliases": list(version.aliases),
        "model_id": logged_model_id(version.source) or "",
    }


def registered_model_json(model: RegisteredModel, latest: ModelVersion | None) -> dict[str, Any]:
    created = ms(model.created_at)
    return {
        "name": model.name,
        "creation_timestamp": created,
        "last_updated_timestamp": ms(model.updated_at) or created,
        "description": model.description or "",
        "latest_versions": [model_version_json(latest)] if latest else [],
        "tags": tag_list(model.tags),
        "aliases": [{"alias": alias, "version": str(v)} for alias, v in model.aliases.items()],
    }
