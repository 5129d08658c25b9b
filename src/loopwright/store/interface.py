"""The one seam that matters: every piece of metadata goes through a :class:`Store`.

Implementations: :class:`loopwright.store.sql.SqlStore` (SQLite, PostgreSQL) and, later,
a ``RestStore`` over HTTP. Methods take and return the dataclasses of
:mod:`loopwright.store.entities` only.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

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


class Store(ABC):
    """Abstract metadata store."""

    uri: str

    # -- experiments -------------------------------------------------------------------------
    @abstractmethod
    def create_experiment(self, name: str, tags: Mapping[str, str] | None = None) -> Experiment: ...

    @abstractmethod
    def get_experiment(self, experiment_id: str) -> Experiment: ...

    @abstractmethod
    def get_experiment_by_name(self, name: str) -> Experiment | None:
        """Return the experiment with that name (active or deleted), or ``None``."""

    @abstractmethod
    def list_experiments(self, include_deleted: bool = False) -> list[Experiment]: ...

    @abstractmethod
    def delete_experiment(self, experiment_id: str) -> None:
        """Soft-delete an experiment and its runs; :meth:`restore_experiment` undoes it."""

    @abstractmethod
    def restore_experiment(self, experiment_id: str) -> None: ...

    # -- runs ----------------------------------------------------------------------------------
    @abstractmethod
    def create_run(
        self,
        experiment_id: str,
        name: str | None = None,
        tags: Mapping[str, str] | None = None,
        parent_id: str | None = None,
        start_ms: int | None = None,
        run_id: str | None = None,
    ) -> Run:
        """A new ``running`` run; ``run_id`` (32 hex digits) lets a client that retries name it first."""

    @abstractmethod
    def get_run(self, run_id: str) -> Run: ...

    @abstractmethod
    def set_run_status(
        self, run_id: str, status: RunStatus, end_ms: int | None = None, error: str | None = None
    ) -> Run:
        """Move a run to ``status``; ``finished``/``failed`` also set its end time."""

    @abstractmethod
    def fail_abandoned_run(self, run_id: str, last_activity_ms: int, error: str) -> Run | None:
        """End a running run as ``failed`` with ``error``, its end time its last activity, unless it
        was written to after ``last_activity_ms`` (then it is alive after all) or has ended; the
        ended run, else ``None``."""

    @abstractmethod
    def delete_run(self, run_id: str) -> None: ...

    @abstractmethod
    def restore_run(self, run_id: str) -> None: ...

    @abstractmethod
    def log_params(self, run_id: str, params: Mapping[str, str]) -> None:
        """Record params; re-logging a key with a different value raises ``Conflict``."""

    @abstractmethod
    def set_tags(self, run_id: str, tags: Mapping[str, str]) -> None: ...

    @abstractmethod
    def delete_tag(self, run_id: str, key: str) -> None: ...

    @abstractmethod
    def log_metrics(self, points: Sequence[tuple[str, MetricPoint]]) -> None:
        """Append ``(run_id, point)`` pairs in one transaction and keep each run's latest values."""

    @abstractmethod
    def list_metric_history(self, run_id: str, key: str) -> list[MetricPoint]: ...

    @abstractmethod
    def get_metric_history_arrays(self, run_id: str, key: str) -> MetricHistoryArrays:
        """One key's history as three numpy arrays (steps, values, timestamps), in step order: the
        form to read 10,000-step curves in (no object per point, so no garbage-collector pauses)."""

    @abstractmethod
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
        """Runs matching an MLflow-style filter, e.g. ``"metrics.auc > 0.9 and params.C = '1'"``.

        ``after_run_id`` pages by keyset: the runs after that one (the last of the previous page) under
        the same filter and order, as fast on page 2,000 as on page 1 (``offset`` rescans what it skips).
        """

    @abstractmethod
    def log_dataset_inputs(self, run_id: str, datasets: Sequence[DatasetInput]) -> None: ...

    @abstractmethod
    def get_dataset_inputs(self, run_id: str) -> list[DatasetInput]: ...

    # -- artifact records ----------------------------------------------------------------------
    @abstractmethod
    def record_artifacts(self, owner_type: str, owner_id: str, refs: Iterable[ArtifactRef]) -> None:
        """Point logical names in an owner's namespace (``run``, ``model_version``…) to blobs."""

    @abstractmethod
    def list_artifacts(
        self, owner_type: str, owner_id: str, prefix: str | None = None
    ) -> list[ArtifactRef]: ...

    @abstractmethod
    def get_artifact(self, owner_type: str, owner_id: str, path: str) -> ArtifactRef: ...

    # -- registry ------------------------------------------------------------------------------
    # Every mutation takes the ``actor`` and writes its audit entry in the same transaction.
    @abstractmethod
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
        """Register the next version of ``name`` (creating the model on first use), atomically.

        ``kind`` is what the name holds (``prompt`` for a prompt template); a name keeps the kind it
        was created with (``Conflict`` otherwise).

        With ``run_id`` and ``artifact_prefix`` the run's artifacts under the prefix are recorded
        again for owner ``("model_version", "NAME/VERSION")`` with the prefix stripped, so the
        package survives the run; a lineage edge ``run → model_version`` is added.
        """

    @abstractmethod
    def get_registered_model(self, name: str) -> RegisteredModel: ...

    @abstractmethod
    def search_registered_models(
        self,
        filter: str | None = None,
        order_by: Sequence[str] | None = None,
        max_results: int = 1000,
        kind: ModelKind = "model",
    ) -> list[RegisteredModel]:
        """Registered models (of ``kind``) matching e.g. ``"name LIKE 'churn%' and tags.team = 'risk'"``."""

    @abstractmethod
    def update_registered_model(
        self, name: str, description: str | None, *, actor: str
    ) -> RegisteredModel: ...

    @abstractmethod
    def set_registered_model_tag(self, name: str, key: str, value: str, *, actor: str) -> None: ...

    @abstractmethod
    def delete_registered_model_tag(self, name: str, key: str, *, actor: str) -> None: ...

    @abstractmethod
    def get_model_version(self, name: str, version: int) -> ModelVersion: ...

    @abstractmethod
    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion: ...

    @abstractmethod
    def search_model_versions(
        self,
        filter: str | None = None,
        order_by: Sequence[str] | None = None,
        max_results: int = 1000,
        kind: ModelKind = "model",
    ) -> list[ModelVersion]:
        """Versions (of names of ``kind``) matching e.g. ``"name = 'churn' and alias = 'champion'"`` (newest first per model)."""

    @abstractmethod
    def update_model_version(
        self, name: str, version: int, description: str | None, *, actor: str
    ) -> ModelVersion:
        """Change a version's description (the only mutable field besides tags, aliases, status)."""

    @abstractmethod
    def set_model_version_tag(self, name: str, version: int, key: str, value: str, *, actor: str) -> None: ...

    @abstractmethod
    def delete_model_version_tag(self, name: str, version: int, key: str, *, actor: str) -> None: ...

    @abstractmethod
    def set_model_version_status(
        self, name: str, version: int, status: ModelVersionStatus, *, actor: str
    ) -> ModelVersion:
        """Archive (``"archived"``) or restore (``"ready"``) a version."""

    @abstractmethod
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
        """Point a version at a package derived from its own (e.g. the same files plus ONNX).

        Only a package whose ``derived_from`` is the version's current manifest is accepted, so
        the model a version names never changes; ``files`` are recorded for the version.
        """

    @abstractmethod
    def set_alias(self, name: str, alias: str, version: int, *, actor: str) -> ModelVersion:
        """Point ``alias`` at ``version`` (create or move it) under the model's row lock."""

    @abstractmethod
    def delete_alias(self, name: str, alias: str, *, actor: str) -> None: ...

    @abstractmethod
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
        """Write one audit entry on its own (e.g. an evaluation gate's ``gate_verdict``)."""

    @abstractmethod
    def list_audit_log(
        self,
        name: str,
        version: int | None = None,
        action: str | None = None,
        max_results: int | None = None,
    ) -> list[AuditEntry]:
        """A model's audit entries, oldest first."""

    # -- lineage -------------------------------------------------------------------------------
    @abstractmethod
    def add_lineage_edges(self, edges: Sequence[LineageEdge]) -> None:
        """Record ``src → dst`` edges; an edge that exists already is kept as is."""

    @abstractmethod
    def get_lineage_edges(
        self, node_type: str, node_id: str, direction: LineageDirection = "upstream"
    ) -> list[LineageEdge]:
        """Edges into (``upstream``), out of (``downstream``) or touching (``both``) one node."""

    # -- serving: prediction log and feedback ----------------------------------------------------
    @abstractmethod
    def add_prediction_log_file(self, file: PredictionLogFile) -> None:
        """Index one prediction-log Parquet blob (and record it in ``artifacts`` so gc keeps it)."""

    @abstractmethod
    def list_prediction_log_files(
        self,
        endpoint: str,
        since_ms: int | None = None,
        until_ms: int | None = None,
        include_shadow: bool = False,
    ) -> list[PredictionLogFile]:
        """Files of ``endpoint`` that may hold rows with ``since_ms <= timestamp < until_ms``."""

    @abstractmethod
    def replace_prediction_log_files(
        self, endpoint: str, remove_ids: Sequence[str], file: PredictionLogFile | None = None
    ) -> int:
        """In one transaction, unindex the files ``remove_ids`` of ``endpoint`` (their ``artifacts``
        rows too, so gc may free the blobs) and index ``file`` instead (compaction) or nothing
        (retention). Raises ``Conflict`` and changes nothing when one of them is gone already."""

    @abstractmethod
    def digest_holders(self, digests: Sequence[str]) -> dict[str, list[str]]:
        """What else than the prediction log still needs each blob: ``run``/``model_version`` (an
        artifact), ``pipeline_step`` (a step's input or output), ``lineage`` (an edge naming it).
        Digests nothing else holds are left out."""

    @abstractmethod
    def log_feedback(self, records: Sequence[FeedbackRecord]) -> None:
        """Record labels; a label logged again for the same (endpoint, request, row) replaces it."""

    @abstractmethod
    def list_feedback(
        self, endpoint: str, since_ms: int | None = None, until_ms: int | None = None
    ) -> list[FeedbackRecord]:
        """Labels logged for ``endpoint`` in the time range, oldest first."""

    # -- monitoring: live windows and alerts ------------------------------------------------------
    @abstractmethod
    def list_endpoints(self) -> list[str]:
        """Every endpoint that logged predictions or has monitor windows, by name."""

    @abstractmethod
    def put_monitor_windows(self, windows: Sequence[MonitorWindow]) -> None:
        """Store windows; a window with the same (endpoint, start_ms, end_ms) is replaced."""

    @abstractmethod
    def list_monitor_windows(
        self,
        endpoint: str,
        since_ms: int | None = None,
        until_ms: int | None = None,
        width_ms: int | None = None,
    ) -> list[MonitorWindow]:
        """Windows of ``endpoint`` overlapping ``[since_ms, until_ms)`` (only ``width_ms`` long ones
        if given), oldest first."""

    @abstractmethod
    def get_feedback_labels(self, endpoint: str, since_ms: int | None = None) -> FeedbackLabels:
        """Labels logged for ``endpoint`` since ``since_ms``, as columns in one query (bulk-decoded)."""

    @abstractmethod
    def get_alert_states(self, endpoint: str) -> dict[str, AlertState]:
        """Every alert rule's state for ``endpoint``, by rule name."""

    @abstractmethod
    def update_alerts(self, states: Sequence[AlertState], events: Sequence[AlertEvent]) -> list[AlertEvent]:
        """Upsert rule states and append events in one transaction; returns the events with ids."""

    @abstractmethod
    def list_alert_events(
        self, endpoint: str, delivery: AlertDelivery | None = None, since_ms: int | None = None
    ) -> list[AlertEvent]:
        """Alert events of ``endpoint`` (only those with ``delivery`` if given), oldest first."""

    @abstractmethod
    def set_alert_delivery(
        self, event_id: int, delivery: AlertDelivery, attempts: int, delivered_ms: int | None = None
    ) -> None:
        """Record a webhook delivery attempt's outcome."""

    # -- loop: trigger → retrain → gate → canary → promote or roll back ---------------------------
    @abstractmethod
    def get_loop_state(self, model: str) -> LoopState:
        """The model's loop state; ``idle`` at cycle 0 if its loop never ran."""

    @abstractmethod
    def list_loop_states(self) -> list[LoopState]:
        """Every model's loop state, by model name."""

    @abstractmethod
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
        """Move the model's loop to ``to_state`` and append the transition (made by ``actor``), in one
        transaction under the state row's lock. ``Conflict`` (naming the state found) if the loop is
        not in one of the ``expect`` states any more, or its details differ from ``expect_details``
        (a controller taking over a cycle), i.e. another controller moved it first."""

    @abstractmethod
    def set_loop_paused(
        self, model: str, paused: bool, *, actor: str, reason: str, time_ms: int | None = None
    ) -> LoopState:
        """Pause or resume the model's loop and append the move (state to itself) with the actor;
        ``Conflict`` if it is already paused (or, resuming, not paused)."""

    @abstractmethod
    def mark_loop_checked(self, model: str, time_ms: int) -> None:
        """Record that the schedule trigger looked at ``time_ms`` (never moves back in time)."""

    @abstractmethod
    def list_loop_history(
        self, model: str, cycle: int | None = None, max_results: int | None = None
    ) -> list[LoopTransition]:
        """The model's loop transitions, oldest first (the latest ``max_results`` if given)."""

    # -- lifecycle -----------------------------------------------------------------------------
    @abstractmethod
    def purge_deleted(self, deleted_before_ms: int | None = None) -> tuple[GcReport, set[str]]:
        """Remove soft-deleted records for good (only those deleted before ``deleted_before_ms`` if
        given; a deleted experiment takes all its runs); return a report and the digests they
        pointed to."""

    @abstractmethod
    def referenced_digests(self) -> set[str]:
        """Every blob digest some live record points to."""

    # -- pipelines -----------------------------------------------------------------------------
    @abstractmethod
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
        """Create the pipeline's tracking run and one ``pending`` step run per ``(node, step, upstream)``."""

    @abstractmethod
    def start_step_run(
        self, step_run_id: str, cache_key: str, inputs: Sequence[StepIO], start_ms: int | None = None
    ) -> None:
        """Mark a pending step ``running`` with its cache key and inputs."""

    @abstractmethod
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
        """Record a step's result and attach ``run_id``, the tracking run the worker opened for it
        (nested under the pipeline's): its params, datasets, and the outputs as its artifacts."""

    @abstractmethod
    def record_cache_hits(self, hits: Sequence[CacheHit]) -> None:
        """Mark steps ``cached`` in one transaction: each gets a finished tracking run reusing its
        source's outputs (as artifacts) and latest metrics."""

    @abstractmethod
    def skip_step_runs(self, step_run_ids: Sequence[str], reason: str) -> None: ...

    @abstractmethod
    def finish_pipeline_run(
        self, pipeline_run_id: str, status: PipelineStatus, error: str | None = None
    ) -> None:
        """End the pipeline run and copy its steps' latest metrics onto it (later steps win)."""

    @abstractmethod
    def get_pipeline_run(self, pipeline_run_id: str) -> PipelineRun: ...

    @abstractmethod
    def list_pipeline_runs(
        self, pipeline: str | None = None, max_results: int = 50, offset: int = 0
    ) -> list[PipelineRun]:
        """Newest first; step runs are included without their inputs and outputs."""

    @abstractmethod
    def get_step_run(self, step_run_id: str) -> StepRun: ...

    @abstractmethod
    def find_cached_step(self, cache_key: str) -> StepRun | None:
        """The newest ``done`` or ``cached`` step run with this cache key, with its outputs."""

    @abstractmethod
    def find_step_runs_by_output(self, digest: str) -> list[StepRun]:
        """Step runs that wrote (or reused from cache) an output with this blob digest."""

    # -- API tokens (platform server and serving auth) ------------------------------------------
    @abstractmethod
    def create_token(
        self, user: str, role: Role, token_hash: str, *, actor: str, expires_ms: int | None = None
    ) -> ApiToken:
        """Record a token by the SHA-256 hex of its secret (never the secret) and audit it
        (``token_created``, entity ``token``, name = ``user``) in the same transaction."""

    @abstractmethod
    def list_tokens(self, include_revoked: bool = False) -> list[ApiToken]:
        """Tokens, oldest first; revoked ones only with ``include_revoked``."""

    @abstractmethod
    def revoke_token(self, token_id: str, *, actor: str) -> ApiToken:
        """Revoke a token by id (or a unique prefix of 8+ characters) and audit it; revoking a
        revoked token changes nothing and returns it. ``NotFound`` for an unknown id."""

    @abstractmethod
    def find_token(self, token_hash: str) -> ApiToken | None:
        """The token with this hash whatever its state (revoked, expired), or ``None``."""

    def identify_token(self, token: str) -> ApiToken | None:
        """The record of a bearer token, found by its SHA-256 (``RestStore`` asks its server instead)."""
        return self.find_token(hashlib.sha256(token.encode()).hexdigest())

    @abstractmethod
    def touch_token(self, token_id: str, time_ms: int) -> None:
        """Set ``last_used``; callers rate-limit (see ``loopwright.auth.TokenAuthenticator``)."""

    # -- LLM traces ----------------------------------------------------------------------------
    @abstractmethod
    def log_traces(self, traces: Sequence[Trace], spans: Sequence[TraceSpan]) -> None:
        """Store finished traces (a trace logged again replaces its row) and their spans (a span
        logged again is kept as it was), in one transaction."""

    @abstractmethod
    def get_trace(self, trace_id: str) -> Trace:
        """A trace with its spans in start order (``NotFound`` naming the id)."""

    @abstractmethod
    def search_traces(
        self, filter: str | None = None, order_by: Sequence[str] | None = None, max_results: int = 100
    ) -> list[Trace]:
        """Traces (without spans) matching e.g. ``"status = 'error' and prompt LIKE 'support%'"``,
        newest first unless ``order_by`` says otherwise."""

    def close(self) -> None:  # noqa: B027 - optional hook, most stores hold nothing
        """Release connections."""
