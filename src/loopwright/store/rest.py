"""``RestStore``: the :class:`~loopwright.store.Store` over HTTP, against ``loopwright server``.

``LOOPWRIGHT_STORE_URI=http://host:5000`` (and ``LOOPWRIGHT_TOKEN`` when the server runs ``--auth``)
puts the unchanged Python API and CLI on a team's server. Every method is one request built from the
shared contract (:mod:`loopwright.store.routes`, :mod:`loopwright.store.wire`) on one keep-alive
connection; buffered metrics arrive as one ``POST /metrics`` per flush.

High availability: the URI may list several servers (``http://a:5001,http://b:5002``). A request
that cannot reach one, or gets 502/503/504, is sent again to the next (waiting a little longer each
round) for up to ``retry_for`` seconds. Every write carries a fresh ``Idempotency-Key``, kept across
its retries, and the server commits the key with the write: a write whose answer was lost (the
server died after committing) is applied once, never twice.

Examples
--------
>>> store = RestStore("http://127.0.0.1:5001,http://127.0.0.1:5002")
>>> store.urls
['http://127.0.0.1:5001', 'http://127.0.0.1:5002']
>>> store.close()
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Literal

import httpx

from loopwright.config import get_settings
from loopwright.errors import (
    AlreadyExists,
    Conflict,
    IntegrityError,
    InvalidInput,
    InvalidParameter,
    LoopwrightError,
    NotFound,
    PermissionDenied,
    Unauthenticated,
    Unavailable,
)
from loopwright.store.entities import (
    AlertDelivery,
    AlertEvent,
    AlertState,
    ApiToken,
    ArtifactRef,
    AuditEntry,
    CacheHit,
    DatasetInput,
    Experiment,
    FeedbackLabels,
    FeedbackRecord,
    GcReport,
    LineageDirection,
    LineageEdge,
    LoopState,
    LoopStateName,
    LoopTransition,
    MetricHistoryArrays,
    MetricPoint,
    ModelKind,
    ModelVersion,
    ModelVersionStatus,
    MonitorWindow,
    PipelineRun,
    PipelineStatus,
    PredictionLogFile,
    RegisteredModel,
    Role,
    Run,
    RunStatus,
    StepIO,
    StepRun,
    Trace,
    TraceSpan,
)
from loopwright.store.interface import Store
from loopwright.store.routes import API_PREFIX, ROUTES
from loopwright.store.wire import decode, plain, signature_of

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({502, 503, 504})
BY_NAME: dict[str, type[LoopwrightError]] = {
    cls.__name__: cls
    for cls in (
        AlreadyExists,
        Conflict,
        IntegrityError,
        InvalidInput,
        InvalidParameter,
        NotFound,
        PermissionDenied,
        Unauthenticated,
        Unavailable,
    )
}
# what an answer without our error body (a proxy's, a HEAD's) means
BY_STATUS: dict[int, type[LoopwrightError]] = {
    400: InvalidInput,
    401: Unauthenticated,
    403: PermissionDenied,
    404: NotFound,
    409: Conflict,
    413: InvalidInput,
    422: InvalidInput,
    502: Unavailable,
    503: Unavailable,
    504: Unavailable,
}


def _query_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class RestStore(Store):
    """The Store of a ``loopwright server`` (or several, for failover).

    Parameters
    ----------
    uri:
        ``http(s)://host:port``, or several separated by commas.
    token:
        Bearer token (default: ``LOOPWRIGHT_TOKEN``).
    retry_for:
        Seconds to keep retrying a request no server could answer.
    """

    def __init__(self, uri: str, token: str | None = None, retry_for: float = 30.0, timeout: float = 60.0):
        self.uri = uri
        self.urls = [u.strip().rstrip("/") for u in uri.split(",") if u.strip()]
        if not self.urls or not all(u.startswith(("http://", "https://")) for u in self.urls):
            raise InvalidInput(f"invalid server URI {uri!r}: use http(s)://HOST:PORT[,http(s)://HOST2:PORT]")
        token = token if token is not None else get_settings().token
        headers = {"User-Agent": "loopwright-rest-store"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self.retry_for = retry_for
        self.http = httpx.Client(headers=headers, timeout=httpx.Timeout(timeout, connect=5.0))
        self._current = 0  # the server that answered last: tried first next time

    def __repr__(self) -> str:
        return f"RestStore({self.uri!r})"

    def close(self) -> None:
        self.http.close()

    # -- transport -----------------------------------------------------------------------------
    def request(
        self,
        verb: str,
        path: str,
        *,
        idempotent: bool = True,
        content: Callable[[], Any] | None = None,
        **options: Any,
    ) -> httpx.Response:
        """Send ``verb path`` to the servers in turn until one answers (not 502/503/504) or time is up.

        ``content`` makes a fresh request body for each attempt (a file opened again, say);
        ``idempotent=False`` sends once. Error answers are raised as the :mod:`loopwright.errors`
        class the server named.
        """
        deadline = time.monotonic() + self.retry_for
        attempt = 0
        while True:
            base = self.urls[self._current % len(self.urls)]
            try:
                body = {} if content is None else {"content": content()}
                response = self.http.request(verb, f"{base}{path}", **body, **options)
            except httpx.TransportError as error:
                problem: str = f"{type(error).__name__}: {error}"
            else:
                if response.status_code not in RETRY_STATUSES:
                    if response.status_code >= 400:
                        raise _error(response)
                    return response
                problem = f"HTTP {response.status_code}"
                if not idempotent or time.monotonic() >= deadline:
                    raise _error(response)
            if not idempotent or time.monotonic() >= deadline:
                raise Unavailable(f"cannot reach the loopwright server {base}: {problem}")
            log.info("%s %s on %s failed (%s); trying again", verb, path, base, problem)
            self._current += 1
            attempt += 1
            if attempt % len(self.urls) == 0:  # every server tried once: wait before the next round
                time.sleep(min(0.1 * 2 ** (attempt // len(self.urls)), 2.0))

    def _call(self, method: str, **args: Any) -> Any:
        route = ROUTES[method]
        spec = signature_of(method)
        path = route.path.format(**{name: args.pop(name) for name in route.path_params})
        # a parameter left at its default is not sent (the server applies the same default)
        values = {name: plain(value) for name, value in args.items() if value != spec.params[name][1]}
        options: dict[str, Any] = {}
        if route.in_query:
            options["params"] = {name: _query_value(value) for name, value in values.items()}
        else:
            payload = json.dumps(values, separators=(",", ":")).encode()
            options["content"] = lambda: payload
            options["headers"] = {"Content-Type": "application/json"}
        if route.writes:
            options.setdefault("headers", {})["Idempotency-Key"] = uuid.uuid4().hex
        response = self.request(route.verb, f"{API_PREFIX}{path}", **options)
        return decode(spec.returns, response.content)

    # -- the Store, one request per method ------------------------------------------------------
    def create_experiment(self, name: str, tags: Mapping[str, str] | None = None) -> Experiment:
        return self._call("create_experiment", name=name, tags=tags)

    def get_experiment(self, experiment_id: str) -> Experiment:
        return self._call("get_experiment", experiment_id=experiment_id)

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        return self._call("get_experiment_by_name", name=name)

    def list_experiments(self, include_deleted: bool = False) -> list[Experiment]:
        return self._call("list_experiments", include_deleted=include_deleted)

    def delete_experiment(self, experiment_id: str) -> None:
        return self._call("delete_experiment", experiment_id=experiment_id)

    def restore_experiment(self, experiment_id: str) -> None:
        return self._call("restore_experiment", experiment_id=experiment_id)

    def create_run(
        self,
        experiment_id: str,
        name: str | None = None,
        tags: Mapping[str, str] | None = None,
        parent_id: str | None = None,
        start_ms: int | None = None,
        run_id: str | None = None,
    ) -> Run:
        run_id = run_id or uuid.uuid4().hex  # named here, so a retried request is the same run
        return self._call(
            "create_run",
            experiment_id=experiment_id,
            name=name,
            tags=tags,
            parent_id=parent_id,
            start_ms=start_ms,
            run_id=run_id,
        )

    def get_run(self, run_id: str) -> Run:
        return self._call("get_run", run_id=run_id)

    def set_run_status(
        self, run_id: str, status: RunStatus, end_ms: int | None = None, error: str | None = None
    ) -> Run:
        return self._call("set_run_status", run_id=run_id, status=status, end_ms=end_ms, error=error)

    def fail_abandoned_run(self, run_id: str, last_activity_ms: int, error: str) -> Run | None:
        return self._call("fail_abandoned_run", run_id=run_id, last_activity_ms=last_activity_ms, error=error)

    def delete_run(self, run_id: str) -> None:
        return self._call("delete_run", run_id=run_id)

    def restore_run(self, run_id: str) -> None:
        return self._call("restore_run", run_id=run_id)

    def log_params(self, run_id: str, params: Mapping[str, str]) -> None:
        return self._call("log_params", run_id=run_id, params=params)

    def set_tags(self, run_id: str, tags: Mapping[str, str]) -> None:
        return self._call("set_tags", run_id=run_id, tags=tags)

    def delete_tag(self, run_id: str, key: str) -> None:
        return self._call("delete_tag", run_id=run_id, key=key)

    def log_metrics(self, points: Sequence[tuple[str, MetricPoint]]) -> None:
        return self._call("log_metrics", points=points)

    def list_metric_history(self, run_id: str, key: str) -> list[MetricPoint]:
        return self._call("list_metric_history", run_id=run_id, key=key)

    def get_metric_history_arrays(self, run_id: str, key: str) -> MetricHistoryArrays:
        return self._call("get_metric_history_arrays", run_id=run_id, key=key)

    def search_runs(
        self,
        experiment_ids: Sequence[str] | None = None,
        filter: str | None = None,
        order_by: Sequence[str] | None = None,
        max_results: int = 1000,
        offset: int = 0,
        include_deleted: bool = False,
        after_run_id: str | None = None,
    ) -> list[Run]:
        return self._call(
            "search_runs",
            experiment_ids=experiment_ids,
            filter=filter,
            order_by=order_by,
            max_results=max_results,
            offset=offset,
            include_deleted=include_deleted,
            after_run_id=after_run_id,
        )

    def log_dataset_inputs(self, run_id: str, datasets: Sequence[DatasetInput]) -> None:
        return self._call("log_dataset_inputs", run_id=run_id, datasets=datasets)

    def get_dataset_inputs(self, run_id: str) -> list[DatasetInput]:
        return self._call("get_dataset_inputs", run_id=run_id)

    def record_artifacts(self, owner_type: str, owner_id: str, refs: Iterable[ArtifactRef]) -> None:
        return self._call("record_artifacts", owner_type=owner_type, owner_id=owner_id, refs=refs)

    def list_artifacts(self, owner_type: str, owner_id: str, prefix: str | None = None) -> list[ArtifactRef]:
        return self._call("list_artifacts", owner_type=owner_type, owner_id=owner_id, prefix=prefix)

    def get_artifact(self, owner_type: str, owner_id: str, path: str) -> ArtifactRef:
        return self._call("get_artifact", owner_type=owner_type, owner_id=owner_id, path=path)

    def create_model_version(
        self,
        name: str,
        source: str,
        *,
        actor: str,
        run_id: str | None = None,
        manifest_digest: str | None = None,
        artifact_prefix: str | None = None,
        tags: Mapping[str, str] | None = None,
        description: str | None = None,
        kind: ModelKind = "model",
    ) -> ModelVersion:
        return self._call(
            "create_model_version",
            name=name,
            source=source,
            actor=actor,
            run_id=run_id,
            manifest_digest=manifest_digest,
            artifact_prefix=artifact_prefix,
            tags=tags,
            description=description,
            kind=kind,
        )

    def get_registered_model(self, name: str) -> RegisteredModel:
        return self._call("get_registered_model", name=name)

    def search_registered_models(
        self,
        filter: str | None = None,
        order_by: Sequence[str] | None = None,
        max_results: int = 1000,
        kind: ModelKind = "model",
    ) -> list[RegisteredModel]:
        return self._call(
            "search_registered_models", filter=filter, order_by=order_by, max_results=max_results, kind=kind
        )

    def update_registered_model(self, name: str, description: str | None, *, actor: str) -> RegisteredModel:
        return self._call("update_registered_model", name=name, description=description, actor=actor)

    def set_registered_model_tag(self, name: str, key: str, value: str, *, actor: str) -> None:
        return self._call("set_registered_model_tag", name=name, key=key, value=value, actor=actor)

    def delete_registered_model_tag(self, name: str, key: str, *, actor: str) -> None:
        return self._call("delete_registered_model_tag", name=name, key=key, actor=actor)

    def get_model_version(self, name: str, version: int) -> ModelVersion:
        return self._call("get_model_version", name=name, version=version)

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        return self._call("get_model_version_by_alias", name=name, alias=alias)

    def search_model_versions(
        self,
        filter: str | None = None,
        order_by: Sequence[str] | None = None,
        max_results: int = 1000,
        kind: ModelKind = "model",
    ) -> list[ModelVersion]:
        return self._call(
            "search_model_versions", filter=filter, order_by=order_by, max_results=max_results, kind=kind
        )

    def update_model_version(
        self, name: str, version: int, description: str | None, *, actor: str
    ) -> ModelVersion:
        return self._call(
            "update_model_version", name=name, version=version, description=description, actor=actor
        )

    def set_model_version_tag(self, name: str, version: int, key: str, value: str, *, actor: str) -> None:
        return self._call(
            "set_model_version_tag", name=name, version=version, key=key, value=value, actor=actor
        )

    def delete_model_version_tag(self, name: str, version: int, key: str, *, actor: str) -> None:
        return self._call("delete_model_version_tag", name=name, version=version, key=key, actor=actor)

    def set_model_version_status(
        self, name: str, version: int, status: ModelVersionStatus, *, actor: str
    ) -> ModelVersion:
        return self._call("set_model_version_status", name=name, version=version, status=status, actor=actor)

    def adopt_derived_package(
        self,
        name: str,
        version: int,
        manifest_digest: str,
        *,
        derived_from: str,
        files: Sequence[ArtifactRef],
        actor: str,
    ) -> ModelVersion:
        return self._call(
            "adopt_derived_package",
            name=name,
            version=version,
            manifest_digest=manifest_digest,
            derived_from=derived_from,
            files=files,
            actor=actor,
        )

    def set_alias(self, name: str, alias: str, version: int, *, actor: str) -> ModelVersion:
        return self._call("set_alias", name=name, alias=alias, version=version, actor=actor)

    def delete_alias(self, name: str, alias: str, *, actor: str) -> None:
        return self._call("delete_alias", name=name, alias=alias, actor=actor)

    def append_audit(
        self,
        entity: str,
        name: str,
        action: str,
        *,
        actor: str,
        version: int | None = None,
        before: Any = None,
        after: Any = None,
    ) -> AuditEntry:
        return self._call(
            "append_audit",
            entity=entity,
            name=name,
            action=action,
            actor=actor,
            version=version,
            before=before,
            after=after,
        )

    def list_audit_log(
        self,
        name: str,
        version: int | None = None,
        action: str | None = None,
        max_results: int | None = None,
    ) -> list[AuditEntry]:
        return self._call(
            "list_audit_log", name=name, version=version, action=action, max_results=max_results
        )

    def add_lineage_edges(self, edges: Sequence[LineageEdge]) -> None:
        return self._call("add_lineage_edges", edges=edges)

    def get_lineage_edges(
        self, node_type: str, node_id: str, direction: LineageDirection = "upstream"
    ) -> list[LineageEdge]:
        return self._call("get_lineage_edges", node_type=node_type, node_id=node_id, direction=direction)

    def add_prediction_log_file(self, file: PredictionLogFile) -> None:
        return self._call("add_prediction_log_file", file=file)

    def list_prediction_log_files(
        self,
        endpoint: str,
        since_ms: int | None = None,
        until_ms: int | None = None,
        include_shadow: bool = False,
    ) -> list[PredictionLogFile]:
        return self._call(
            "list_prediction_log_files",
            endpoint=endpoint,
            since_ms=since_ms,
            until_ms=until_ms,
            include_shadow=include_shadow,
        )

    def replace_prediction_log_files(
        self, endpoint: str, remove_ids: Sequence[str], file: PredictionLogFile | None = None
    ) -> int:
        return self._call("replace_prediction_log_files", endpoint=endpoint, remove_ids=remove_ids, file=file)

    def digest_holders(self, digests: Sequence[str]) -> dict[str, list[str]]:
        return self._call("digest_holders", digests=digests)

    def log_feedback(self, records: Sequence[FeedbackRecord]) -> None:
        return self._call("log_feedback", records=records)

    def list_feedback(
        self, endpoint: str, since_ms: int | None = None, until_ms: int | None = None
    ) -> list[FeedbackRecord]:
        return self._call("list_feedback", endpoint=endpoint, since_ms=since_ms, until_ms=until_ms)

    def list_endpoints(self) -> list[str]:
        return self._call("list_endpoints")

    def put_monitor_windows(self, windows: Sequence[MonitorWindow]) -> None:
        return self._call("put_monitor_windows", windows=windows)

    def list_monitor_windows(
        self,
        endpoint: str,
        since_ms: int | None = None,
        until_ms: int | None = None,
        width_ms: int | None = None,
    ) -> list[MonitorWindow]:
        return self._call(
            "list_monitor_windows", endpoint=endpoint, since_ms=since_ms, until_ms=until_ms, width_ms=width_ms
        )

    def get_feedback_labels(self, endpoint: str, since_ms: int | None = None) -> FeedbackLabels:
        return self._call("get_feedback_labels", endpoint=endpoint, since_ms=since_ms)

    def get_alert_states(self, endpoint: str) -> dict[str, AlertState]:
        return self._call("get_alert_states", endpoint=endpoint)

    def update_alerts(self, states: Sequence[AlertState], events: Sequence[AlertEvent]) -> list[AlertEvent]:
        return self._call("update_alerts", states=states, events=events)

    def list_alert_events(
        self, endpoint: str, delivery: AlertDelivery | None = None, since_ms: int | None = None
    ) -> list[AlertEvent]:
        return self._call("list_alert_events", endpoint=endpoint, delivery=delivery, since_ms=since_ms)

    def set_alert_delivery(
        self, event_id: int, delivery: AlertDelivery, attempts: int, delivered_ms: int | None = None
    ) -> None:
        return self._call(
            "set_alert_delivery",
            event_id=event_id,
            delivery=delivery,
            attempts=attempts,
            delivered_ms=delivered_ms,
        )

    def get_loop_state(self, model: str) -> LoopState:
        return self._call("get_loop_state", model=model)

    def list_loop_states(self) -> list[LoopState]:
        return self._call(
            "list_loop_states",
        )

    def transition_loop(
        self,
        model: str,
        to_state: LoopStateName,
        *,
        expect: Sequence[str],
        cycle: int,
        version: int | None,
        reason: str,
        details: Mapping[str, Any] | None = None,
        watermark_ms: int | None = None,
        time_ms: int | None = None,
        actor: str | None = None,
        expect_details: Mapping[str, Any] | None = None,
    ) -> LoopState:
        return self._call(
            "transition_loop",
            model=model,
            to_state=to_state,
            expect=expect,
            cycle=cycle,
            version=version,
            reason=reason,
            details=details,
            watermark_ms=watermark_ms,
            time_ms=time_ms,
            actor=actor,
            expect_details=expect_details,
        )

    def set_loop_paused(
        self, model: str, paused: bool, *, actor: str, reason: str, time_ms: int | None = None
    ) -> LoopState:
        return self._call(
            "set_loop_paused", model=model, paused=paused, actor=actor, reason=reason, time_ms=time_ms
        )

    def mark_loop_checked(self, model: str, time_ms: int) -> None:
        return self._call("mark_loop_checked", model=model, time_ms=time_ms)

    def list_loop_history(
        self, model: str, cycle: int | None = None, max_results: int | None = None
    ) -> list[LoopTransition]:
        return self._call("list_loop_history", model=model, cycle=cycle, max_results=max_results)

    def purge_deleted(self, deleted_before_ms: int | None = None) -> tuple[GcReport, set[str]]:
        return self._call("purge_deleted", deleted_before_ms=deleted_before_ms)

    def referenced_digests(self) -> set[str]:
        return self._call(
            "referenced_digests",
        )

    def start_pipeline_run(
        self,
        experiment_id: str,
        pipeline: str,
        nodes: Sequence[tuple[str, str, Sequence[str]]],
        params: Mapping[str, Any],
        executor: str,
        cache: bool = True,
        ref: str | None = None,
        parent_id: str | None = None,
        resumed_from: str | None = None,
    ) -> PipelineRun:
        return self._call(
            "start_pipeline_run",
            experiment_id=experiment_id,
            pipeline=pipeline,
            nodes=nodes,
            params=params,
            executor=executor,
            cache=cache,
            ref=ref,
            parent_id=parent_id,
            resumed_from=resumed_from,
        )

    def start_step_run(
        self, step_run_id: str, cache_key: str, inputs: Sequence[StepIO], start_ms: int | None = None
    ) -> None:
        return self._call(
            "start_step_run", step_run_id=step_run_id, cache_key=cache_key, inputs=inputs, start_ms=start_ms
        )

    def finish_step_run(
        self,
        step_run_id: str,
        status: Literal["done", "failed"],
        attempts: int,
        run_id: str | None = None,
        params: Mapping[str, str] | None = None,
        outputs: Sequence[StepIO] = (),
        datasets: Sequence[DatasetInput] = (),
        error: str | None = None,
        logs_tail: str | None = None,
        start_ms: int | None = None,
        end_ms: int | None = None,
    ) -> None:
        return self._call(
            "finish_step_run",
            step_run_id=step_run_id,
            status=status,
            attempts=attempts,
            run_id=run_id,
            params=params,
            outputs=outputs,
            datasets=datasets,
            error=error,
            logs_tail=logs_tail,
            start_ms=start_ms,
            end_ms=end_ms,
        )

    def record_cache_hits(self, hits: Sequence[CacheHit]) -> None:
        return self._call("record_cache_hits", hits=hits)

    def skip_step_runs(self, step_run_ids: Sequence[str], reason: str) -> None:
        return self._call("skip_step_runs", step_run_ids=step_run_ids, reason=reason)

    def finish_pipeline_run(
        self, pipeline_run_id: str, status: PipelineStatus, error: str | None = None
    ) -> None:
        return self._call("finish_pipeline_run", pipeline_run_id=pipeline_run_id, status=status, error=error)

    def get_pipeline_run(self, pipeline_run_id: str) -> PipelineRun:
        return self._call("get_pipeline_run", pipeline_run_id=pipeline_run_id)

    def list_pipeline_runs(
        self, pipeline: str | None = None, max_results: int = 50, offset: int = 0
    ) -> list[PipelineRun]:
        return self._call("list_pipeline_runs", pipeline=pipeline, max_results=max_results, offset=offset)

    def get_step_run(self, step_run_id: str) -> StepRun:
        return self._call("get_step_run", step_run_id=step_run_id)

    def find_cached_step(self, cache_key: str) -> StepRun | None:
        return self._call("find_cached_step", cache_key=cache_key)

    def find_step_runs_by_output(self, digest: str) -> list[StepRun]:
        return self._call("find_step_runs_by_output", digest=digest)

    def create_token(
        self, user: str, role: Role, token_hash: str, *, actor: str, expires_ms: int | None = None
    ) -> ApiToken:
        return self._call(
            "create_token", user=user, role=role, token_hash=token_hash, actor=actor, expires_ms=expires_ms
        )

    def list_tokens(self, include_revoked: bool = False) -> list[ApiToken]:
        return self._call("list_tokens", include_revoked=include_revoked)

    def revoke_token(self, token_id: str, *, actor: str) -> ApiToken:
        return self._call("revoke_token", token_id=token_id, actor=actor)

    def log_traces(self, traces: Sequence[Trace], spans: Sequence[TraceSpan]) -> None:
        return self._call("log_traces", traces=traces, spans=spans)

    def get_trace(self, trace_id: str) -> Trace:
        return self._call("get_trace", trace_id=trace_id)

    def search_traces(
        self, filter: str | None = None, order_by: Sequence[str] | None = None, max_results: int = 100
    ) -> list[Trace]:
        return self._call("search_traces", filter=filter, order_by=order_by, max_results=max_results)

    def find_token(self, token_hash: str) -> ApiToken | None:
        raise PermissionDenied("tokens are checked by the server; a client cannot look them up")

    def touch_token(self, token_id: str, time_ms: int) -> None:
        """Nothing to do: the server records a token's use when it identifies it."""

    def identify_token(self, token: str) -> ApiToken | None:
        """Ask the server whose ``token`` is (``GET /api/v1/whoami`` with it): how ``loopwright serve
        --store-tokens`` checks tokens of a team server it cannot read the token table of."""
        try:
            response = self.request(
                "GET", f"{API_PREFIX}/whoami", headers={"Authorization": f"Bearer {token}"}
            )
        except (Unauthenticated, NotFound):
            return None
        return decode(ApiToken | None, response.content)


def _error(response: httpx.Response) -> LoopwrightError:
    """The exception a server's error answer names (``{"error": KIND, "message": …}``)."""
    try:
        body = response.json()
        kind, message = str(body.get("error", "")), str(body.get("message") or body.get("detail") or body)
    except (ValueError, AttributeError):
        kind, message = "", response.text[:200] or response.reason_phrase
    cls = BY_NAME.get(kind) or BY_STATUS.get(response.status_code, LoopwrightError)
    return cls(message)
