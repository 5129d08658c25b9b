"""The REST contract of the :class:`~loopwright.store.Store`: one route per method, shared by both ends.

``loopwright server`` builds its ``/api/v1`` endpoints from this table and ``RestStore`` builds its
requests from it, so the two cannot drift apart. A route names the Store method, the HTTP verb, the
path (its ``{placeholders}`` are the method's parameters of the same name), and the least role that
may call it. The method's other parameters travel in the query string for ``GET``/``DELETE`` and in
a JSON body otherwise; its return annotation is the response's shape.

Examples
--------
>>> route = ROUTES["get_run"]
>>> route.verb, route.path, route.role, route.path_params
('GET', '/runs/{run_id}', 'viewer', ('run_id',))
>>> ROUTES["set_alias"].role, ROUTES["set_alias"].writes
('maintainer', True)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

Verb = Literal["GET", "POST", "PUT", "PATCH", "DELETE"]

API_PREFIX = "/api/v1"


@dataclass(frozen=True)
class Route:
    """How one Store method is reached over HTTP."""

    method: str
    verb: Verb
    path: str
    role: str
    #: a read sent as POST (a search with a long filter) is not a write
    reads: bool = False
    #: the resource group the OpenAPI document files it under
    tag: str = ""

    @property
    def path_params(self) -> tuple[str, ...]:
        return tuple(re.findall(r"{(\w+)}", self.path))

    @property
    def writes(self) -> bool:
        return self.verb != "GET" and not self.reads

    @property
    def in_query(self) -> bool:
        """Whether the non-path parameters travel in the query string (else a JSON body)."""
        return self.verb in ("GET", "DELETE")


def _group(tag: str, *routes: tuple[str, Verb, str, str] | tuple[str, Verb, str, str, bool]) -> list[Route]:
    return [Route(r[0], r[1], r[2], r[3], reads=len(r) > 4 and bool(r[4]), tag=tag) for r in routes]


_ROUTES = [
    *_group(
        "experiments",
        ("create_experiment", "POST", "/experiments", "editor"),
        ("list_experiments", "GET", "/experiments", "viewer"),
        ("get_experiment_by_name", "GET", "/experiments-by-name/{name}", "viewer"),
        ("get_experiment", "GET", "/experiments/{experiment_id}", "viewer"),
        ("delete_experiment", "DELETE", "/experiments/{experiment_id}", "editor"),
        ("restore_experiment", "POST", "/experiments/{experiment_id}/restore", "editor"),
    ),
    *_group(
        "runs",
        ("create_run", "POST", "/runs", "editor"),
        ("search_runs", "POST", "/runs/search", "viewer", True),
        ("get_run", "GET", "/runs/{run_id}", "viewer"),
        ("set_run_status", "POST", "/runs/{run_id}/status", "editor"),
        ("fail_abandoned_run", "POST", "/runs/{run_id}/fail-abandoned", "editor"),
        ("delete_run", "DELETE", "/runs/{run_id}", "editor"),
        ("restore_run", "POST", "/runs/{run_id}/restore", "editor"),
        ("log_params", "POST", "/runs/{run_id}/params", "editor"),
        ("set_tags", "POST", "/runs/{run_id}/tags", "editor"),
        ("delete_tag", "DELETE", "/runs/{run_id}/tags", "editor"),
        ("log_metrics", "POST", "/metrics", "editor"),
        ("list_metric_history", "GET", "/runs/{run_id}/metric-history", "viewer"),
        ("get_metric_history_arrays", "GET", "/runs/{run_id}/metric-history-arrays", "viewer"),
        ("log_dataset_inputs", "POST", "/runs/{run_id}/datasets", "editor"),
        ("get_dataset_inputs", "GET", "/runs/{run_id}/datasets", "viewer"),
    ),
    *_group(
        "artifacts",
        ("record_artifacts", "POST", "/artifact-records", "editor"),
        ("list_artifacts", "GET", "/artifact-records", "viewer"),
        ("get_artifact", "GET", "/artifact-record", "viewer"),
    ),
    *_group(
        "registry",
        ("create_model_version", "POST", "/models/{name}/versions", "editor"),
        ("search_registered_models", "POST", "/models/search", "viewer", True),
        ("get_registered_model", "GET", "/models/{name}", "viewer"),
        ("update_registered_model", "PATCH", "/models/{name}", "editor"),
        ("set_registered_model_tag", "PUT", "/models/{name}/tags", "editor"),
        ("delete_registered_model_tag", "DELETE", "/models/{name}/tags", "editor"),
        ("search_model_versions", "POST", "/model-versions/search", "viewer", True),
        ("get_model_version", "GET", "/models/{name}/versions/{version}", "viewer"),
        ("update_model_version", "PATCH", "/models/{name}/versions/{version}", "editor"),
        ("set_model_version_tag", "PUT", "/models/{name}/versions/{version}/tags", "editor"),
        ("delete_model_version_tag", "DELETE", "/models/{name}/versions/{version}/tags", "editor"),
        ("set_model_version_status", "POST", "/models/{name}/versions/{version}/status", "maintainer"),
        ("adopt_derived_package", "POST", "/models/{name}/versions/{version}/adopt", "maintainer"),
        ("get_model_version_by_alias", "GET", "/models/{name}/aliases/{alias}", "viewer"),
        ("set_alias", "PUT", "/models/{name}/aliases/{alias}", "maintainer"),
        ("delete_alias", "DELETE", "/models/{name}/aliases/{alias}", "maintainer"),
    ),
    *_group(
        "audit",
        ("append_audit", "POST", "/audit", "editor"),
        ("list_audit_log", "GET", "/models/{name}/audit", "viewer"),
    ),
    *_group(
        "lineage",
        ("add_lineage_edges", "POST", "/lineage/edges", "editor"),
        ("get_lineage_edges", "GET", "/lineage/edges", "viewer"),
    ),
    *_group(
        "serving",
        ("add_prediction_log_file", "POST", "/prediction-log-files", "editor"),
        ("list_prediction_log_files", "GET", "/endpoints/{endpoint}/prediction-log-files", "viewer"),
        (
            "replace_prediction_log_files",
            "POST",
            "/endpoints/{endpoint}/prediction-log-files/replace",
            "admin",
        ),
        ("digest_holders", "POST", "/admin/digest-holders", "admin", True),
        ("log_feedback", "POST", "/feedback", "editor"),
        ("list_feedback", "GET", "/endpoints/{endpoint}/feedback", "viewer"),
        ("get_feedback_labels", "GET", "/endpoints/{endpoint}/feedback-labels", "viewer"),
    ),
    *_group(
        "monitoring",
        ("list_endpoints", "GET", "/endpoints", "viewer"),
        ("put_monitor_windows", "PUT", "/monitor-windows", "editor"),
        ("list_monitor_windows", "GET", "/endpoints/{endpoint}/monitor-windows", "viewer"),
        ("get_alert_states", "GET", "/endpoints/{endpoint}/alert-states", "viewer"),
        ("update_alerts", "POST", "/alerts", "editor"),
        ("list_alert_events", "GET", "/endpoints/{endpoint}/alert-events", "viewer"),
        ("set_alert_delivery", "POST", "/alert-events/{event_id}/delivery", "editor"),
    ),
    *_group(
        "loop",
        ("list_loop_states", "GET", "/loops", "viewer"),
        ("get_loop_state", "GET", "/loops/{model}", "viewer"),
        ("transition_loop", "POST", "/loops/{model}/transitions", "maintainer"),
        ("set_loop_paused", "POST", "/loops/{model}/paused", "maintainer"),
        ("mark_loop_checked", "POST", "/loops/{model}/checked", "maintainer"),
        ("list_loop_history", "GET", "/loops/{model}/history", "viewer"),
    ),
    *_group(
        "pipelines",
        ("start_pipeline_run", "POST", "/pipeline-runs", "editor"),
        ("list_pipeline_runs", "GET", "/pipeline-runs", "viewer"),
        ("get_pipeline_run", "GET", "/pipeline-runs/{pipeline_run_id}", "viewer"),
        ("finish_pipeline_run", "POST", "/pipeline-runs/{pipeline_run_id}/finish", "editor"),
        ("start_step_run", "POST", "/step-runs/{step_run_id}/start", "editor"),
        ("finish_step_run", "POST", "/step-runs/{step_run_id}/finish", "editor"),
        ("record_cache_hits", "POST", "/step-runs/cache-hits", "editor"),
        ("skip_step_runs", "POST", "/step-runs/skip", "editor"),
        ("find_cached_step", "GET", "/step-runs-cached/{cache_key}", "viewer"),
        ("find_step_runs_by_output", "GET", "/step-runs-by-output/{digest}", "viewer"),
        ("get_step_run", "GET", "/step-runs/{step_run_id}", "viewer"),
    ),
    *_group(
        "traces",
        ("log_traces", "POST", "/traces", "editor"),
        ("search_traces", "POST", "/traces/search", "viewer", True),
        ("get_trace", "GET", "/traces/{trace_id}", "viewer"),
    ),
    *_group(
        "tokens",
        ("create_token", "POST", "/tokens", "admin"),
        ("list_tokens", "GET", "/tokens", "admin"),
        ("revoke_token", "POST", "/tokens/{token_id}/revoke", "admin"),
    ),
    *_group(
        "lifecycle",
        ("purge_deleted", "POST", "/admin/purge-deleted", "admin"),
        ("referenced_digests", "GET", "/admin/referenced-digests", "admin"),
    ),
]

#: every Store method reachable over HTTP, by name
ROUTES: dict[str, Route] = {route.method: route for route in _ROUTES}
