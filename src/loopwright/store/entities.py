"""Plain domain dataclasses: the only shapes that cross the :class:`~loopwright.store.Store` seam.

No SQLAlchemy row or session leaves a store; ``SqlStore`` and ``RestStore`` both speak these.
Times are timezone-aware UTC datetimes; metric timestamps are integer milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from loopwright.errors import NotFound

if TYPE_CHECKING:
    import numpy as np

RunStatus = Literal["running", "finished", "failed"]
Lifecycle = Literal["active", "deleted"]
RUN_STATUSES: tuple[str, ...] = ("running", "finished", "failed")


SYSTEM_TAG_PREFIX = "loopwright."


def split_tags(tags: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """Split run tags into (user tags, system tags); system tags start with ``loopwright.``."""
    user = {k: v for k, v in tags.items() if not k.startswith(SYSTEM_TAG_PREFIX)}
    system = {k: v for k, v in tags.items() if k.startswith(SYSTEM_TAG_PREFIX)}
    return user, system


def now_ms() -> int:
    """Current UTC time in integer milliseconds."""
    return int(datetime.now(UTC).timestamp() * 1000)


def ms_to_datetime(ms: int | None) -> datetime | None:
    """Milliseconds since the epoch to an aware UTC datetime (``None`` stays ``None``)."""
    return None if ms is None else datetime.fromtimestamp(ms / 1000, tz=UTC)


def _plain(value: Any) -> Any:
    """A field as JSON has it: aware datetimes as ISO 8601 strings, containers walked."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, ToDict):
        return value.to_dict()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


class ToDict:
    """``to_dict()`` for the entity dataclasses: what ``--output json`` prints and REST clients read.

    >>> Experiment("e1", "churn").to_dict()["name"]
    'churn'
    """

    def to_dict(self) -> dict[str, Any]:
        """The fields as plain JSON values (nested entities too; datetimes as ISO 8601)."""
        return {f.name: _plain(getattr(self, f.name)) for f in fields(self)}  # type: ignore[arg-type]


@dataclass(frozen=True)
class Experiment(ToDict):
    """A named group of runs.

    Examples
    --------
    >>> import loopwright as lw
    >>> exp = lw.Experiment("1", "churn", tags={"team": "risk"})
    >>> exp.name, exp.lifecycle, exp.to_dict()["tags"]
    ('churn', 'active', {'team': 'risk'})
    """

    id: str
    name: str
    lifecycle: Lifecycle = "active"
    tags: dict[str, str] = field(default_factory=dict)
    created_at: datetime | None = None
    deleted_at: datetime | None = None


@dataclass(frozen=True)
class MetricPoint:
    """One logged value of one metric.

    Examples
    --------
    >>> import loopwright as lw
    >>> point = lw.MetricPoint("loss", 0.4, step=1, timestamp=1_767_225_600_000)
    >>> point.key, point.value, point.step
    ('loss', 0.4, 1)
    """

    key: str
    value: float
    step: int
    timestamp: int  # ms since epoch, UTC


@dataclass(frozen=True)
class DatasetInput(ToDict):
    """A fingerprint of a dataset a run read: digest, schema and size, never the rows.

    Examples
    --------
    >>> import loopwright as lw
    >>> ds = lw.DatasetInput("train", "9f2c" * 16, 3, {"x": "int64"})
    >>> ds.n_rows, ds.context, ds.schema
    (3, 'input', {'x': 'int64'})
    """

    name: str
    digest: str
    n_rows: int
    schema: dict[str, str]
    context: str = "input"
    source: str | None = None


@dataclass(frozen=True)
class ArtifactRef(ToDict):
    """A logical artifact name inside an owner's namespace, pointing to a blob digest."""

    path: str
    digest: str
    size: int


@dataclass(frozen=True)
class Run(ToDict):
    """One execution of training or evaluation code, with what it logged.

    Examples
    --------
    >>> import loopwright as lw
    >>> from datetime import datetime, timezone
    >>> run = lw.Run("4f1c9e", "1", "baseline", "finished", datetime(2026, 1, 1, tzinfo=timezone.utc),
    ...              params={"C": "0.5"}, metrics={"auc": 0.91})
    >>> run.metrics["auc"], run.to_dict()["start_time"]
    (0.91, '2026-01-01T00:00:00+00:00')
    """

    id: str
    experiment_id: str
    name: str
    status: RunStatus
    start_time: datetime
    end_time: datetime | None = None
    parent_id: str | None = None
    params: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    error: str | None = None
    lifecycle: Lifecycle = "active"
    # tags Loopwright sets itself (``loopwright.source.git_commit`` …), kept apart from the user's tags
    system_tags: dict[str, str] = field(default_factory=dict)
    # the last write to the run (start, param, metric, tag, artifact, dataset, status change)
    last_activity: datetime | None = None

    @property
    def info(self) -> Run:
        """MLflow users write ``run.info.run_id``; keep that working."""
        return self

    @property
    def run_id(self) -> str:
        return self.id

    @property
    def data(self) -> Run:
        return self

    @property
    def duration(self) -> float | None:
        """Seconds between start and end, or ``None`` while running."""
        if self.end_time is None:
            return None
        return (self.end_time - self.start_time).total_seconds()


@dataclass(frozen=True)
class GcReport:
    """What ``gc`` removed for good.

    Examples
    --------
    >>> import loopwright as lw
    >>> report = lw.GcReport(runs=2, blobs=5, bytes=4096)
    >>> report.runs, report.experiments, report.bytes
    (2, 0, 4096)
    """

    runs: int = 0
    experiments: int = 0
    blobs: int = 0
    bytes: int = 0
    details: dict[str, Any] = field(default_factory=dict)


# -- registry ------------------------------------------------------------------------------------
ModelVersionStatus = Literal["ready", "archived"]
#: what a registered name holds: a model package, or a prompt template (``loopwright.llm.prompts``)
ModelKind = Literal["model", "prompt"]
LineageDirection = Literal["upstream", "downstream", "both"]


@dataclass(frozen=True)
class RegisteredModel(ToDict):
    """A named model; its versions are numbered 1, 2, … and aliases point to them.

    Examples
    --------
    >>> import loopwright as lw
    >>> model = lw.RegisteredModel("churn", latest_version=3, aliases={"champion": 2})
    >>> model.aliases["champion"], model.latest_version
    (2, 3)
    """

    name: str
    description: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    created_at: datetime | None = None
    updated_at: datetime | None = None
    latest_version: int = 0
    aliases: dict[str, int] = field(default_factory=dict)
    kind: ModelKind = "model"


@dataclass(frozen=True)
class ModelVersion(ToDict):
    """One immutable registered package: where it came from and the digest of its manifest.

    ``manifest_digest`` is the SHA-256 of the package's ``manifest.json`` blob; loading checks
    the manifest against it before reading anything else.

    Examples
    --------
    >>> import loopwright as lw
    >>> mv = lw.ModelVersion("churn", 3, "4f1c9e", "runs:/4f1c9e/model", "9f2c" * 16, aliases=["champion"])
    >>> mv.status, mv.aliases
    ('ready', ['champion'])
    """

    name: str
    version: int
    run_id: str | None
    source: str
    manifest_digest: str | None
    status: ModelVersionStatus = "ready"
    description: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    aliases: list[str] = field(default_factory=list)
    created_at: datetime | None = None
    created_by: str | None = None
    updated_at: datetime | None = None

    @property
    def uri(self) -> str:
        """``models:/NAME/VERSION``."""
        return f"models:/{self.name}/{self.version}"

    @property
    def owner_id(self) -> str:
        """The id of this version in the ``artifacts`` and ``lineage_edges`` tables: ``NAME/VERSION``."""
        return f"{self.name}/{self.version}"


@dataclass(frozen=True)
class AuditEntry(ToDict):
    """One change to the registry: who did what, when, and the state before and after.

    Examples
    --------
    >>> import loopwright as lw
    >>> from datetime import datetime, timezone
    >>> entry = lw.AuditEntry(7, "alias", "churn", 3, "set_alias", "ada", datetime(2026, 1, 1, tzinfo=timezone.utc),
    ...                       before={"champion": 2}, after={"champion": 3})
    >>> entry.actor, entry.after
    ('ada', {'champion': 3})
    """

    id: int
    entity: str
    name: str
    version: int | None
    action: str
    actor: str
    time: datetime
    before: Any = None
    after: Any = None


@dataclass(frozen=True)
class LineageEdge(ToDict):
    """A directed ``src → dst`` link between two records (``dataset``, ``run``, ``model_version``, …).

    Examples
    --------
    >>> import loopwright as lw
    >>> edge = lw.LineageEdge("run", "4f1c9e", "model_version", "churn/3", "produced")
    >>> f"{edge.src_type}:{edge.src_id} -[{edge.relation}]-> {edge.dst_type}:{edge.dst_id}"
    'run:4f1c9e -[produced]-> model_version:churn/3'
    """

    src_type: str
    src_id: str
    dst_type: str
    dst_id: str
    relation: str
    created_at: datetime | None = None


# -- pipelines ---------------------------------------------------------------------------------------
StepStatus = Literal["pending", "running", "done", "cached", "failed", "skipped"]
PipelineStatus = Literal["running", "finished", "failed"]


@dataclass(frozen=True)
class StepIO(ToDict):
    """One input or output of a step run.

    ``kind`` is ``artifact`` (a blob written by a materialiser, or a model package's manifest when
    ``materializer`` is ``model``) or ``file`` (a local file an argument named, hashed for the cache key).
    """

    direction: Literal["in", "out"]
    name: str
    kind: Literal["artifact", "file"]
    digest: str
    size: int | None = None
    materializer: str | None = None
    type_name: str | None = None
    path: str | None = None
    dataset_digest: str | None = None
    n_rows: int | None = None


@dataclass(frozen=True)
class StepRun(ToDict):
    """One node of a pipeline run: its status, timing, cache use and what it read and wrote."""

    id: str
    pipeline_run_id: str
    node: str
    step: str
    position: int
    upstream: list[str]
    status: StepStatus
    run_id: str | None = None
    cache_key: str | None = None
    cache_hit: bool = False
    cached_from: str | None = None
    attempts: int = 0
    start_time: datetime | None = None
    end_time: datetime | None = None
    error: str | None = None
    logs_tail: str | None = None
    inputs: list[StepIO] = field(default_factory=list)
    outputs: list[StepIO] = field(default_factory=list)

    @property
    def duration(self) -> float | None:
        if self.start_time is None or self.end_time is None:
            return None
        return (self.end_time - self.start_time).total_seconds()


@dataclass(frozen=True)
class CacheHit:
    """A pending step that reuses ``source``'s outputs (and metrics) instead of running."""

    step_run_id: str
    cache_key: str
    source: StepRun
    params: dict[str, str] = field(default_factory=dict)
    inputs: list[StepIO] = field(default_factory=list)
    datasets: list[DatasetInput] = field(default_factory=list)


@dataclass(frozen=True)
class PipelineRun(ToDict):
    """One execution of a pipeline; its id is also the id of its tracking run."""

    id: str
    pipeline: str
    status: PipelineStatus
    executor: str
    params: dict[str, Any]
    start_time: datetime
    cache: bool = True
    ref: str | None = None
    end_time: datetime | None = None
    error: str | None = None
    resumed_from: str | None = None
    steps: list[StepRun] = field(default_factory=list)

    @property
    def duration(self) -> float | None:
        if self.end_time is None:
            return None
        return (self.end_time - self.start_time).total_seconds()

    def step(self, node: str) -> StepRun:
        """The step run of DAG node ``node`` (``train``, ``inc_2`` …)."""
        for step_run in self.steps:
            if step_run.node == node:
                return step_run
        raise NotFound(
            f"pipeline run {self.id!r} has no step {node!r}; it has {[s.node for s in self.steps]}"
        )


@dataclass(frozen=True)
class PredictionLogFile:
    """One Parquet file of the serving prediction log: which rows of which endpoint it holds."""

    id: str
    endpoint: str
    model_name: str | None
    model_version: int | None
    shadow: bool
    min_ts_ms: int
    max_ts_ms: int
    n_rows: int
    path: str
    digest: str
    size: int = 0


@dataclass(frozen=True)
class FeedbackRecord:
    """Ground truth for one predicted row, logged after the fact."""

    endpoint: str
    request_id: str
    row: int
    label: Any
    timestamp_ms: int


@dataclass(frozen=True)
class FeedbackLabels:
    """Feedback of an endpoint as columns (what the monitor joins to the prediction log)."""

    request_ids: list[str]
    rows: list[int]
    labels: list[Any]
    timestamps_ms: list[int]


@dataclass(frozen=True)
class MonitorWindow(ToDict):
    """One live-monitoring window of an endpoint: ``[start_ms, end_ms)``, its verdicts and metrics.

    ``drift``, ``metrics`` and ``estimated`` are JSON documents (the monitor decides their shape);
    ``drifted`` is ``None`` when there was no verdict (no traffic, no reference profile).
    """

    endpoint: str
    start_ms: int
    end_ms: int
    status: str
    closed: bool
    model_versions: list[str]
    n_rows: int
    labelled: int
    drifted: bool | None
    drift: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    estimated: dict[str, Any] = field(default_factory=dict)
    alerts: list[str] = field(default_factory=list)
    updated_ms: int = 0


@dataclass(frozen=True)
class AlertState:
    """Where one alert rule of an endpoint stands: firing or not, and the last window it judged."""

    endpoint: str
    rule: str
    firing: bool
    since_ms: int | None
    last_end_ms: int
    value: float | None = None
    updated_ms: int = 0


AlertDelivery = Literal["none", "pending", "sent", "failed"]


@dataclass(frozen=True)
class AlertEvent:
    """A rule starting to fire or resolving in a window, and whether its webhook was delivered."""

    endpoint: str
    rule: str
    status: Literal["firing", "resolved"]
    start_ms: int
    end_ms: int
    message: str
    payload: dict[str, Any] = field(default_factory=dict)
    delivery: AlertDelivery = "none"
    attempts: int = 0
    id: int | None = None
    created_ms: int = 0
    delivered_ms: int | None = None


# -- loop: the retrain → gate → canary → promote controller ---------------------------------------
LoopStateName = Literal["idle", "retraining", "gated", "canary", "promoted", "rolled_back", "failed"]
LOOP_STATES: tuple[str, ...] = ("idle", "retraining", "gated", "canary", "promoted", "rolled_back", "failed")
# states a cycle ends in; from them (and idle) the next trigger starts a new cycle
LOOP_RESTING_STATES: tuple[str, ...] = ("idle", "promoted", "rolled_back", "failed")


@dataclass(frozen=True)
class LoopState(ToDict):
    """Where the loop of one registered model stands.

    ``cycle`` counts triggers (0 before the first); ``version`` is the cycle's candidate (once
    registered); ``since_ms`` is when the state was entered; ``watermark_ms`` is when the last cycle
    ended: trigger evidence must come from a monitoring window that started at or after it.
    ``details`` is the JSON the controller keeps for the state (gate verdict, canary start …).
    ``paused_ms`` / ``paused_by``: when and by whom an operator paused the loop (None: running);
    ``checked_ms``: when the schedule trigger last looked for a cron slot.
    """

    model: str
    state: LoopStateName
    cycle: int = 0
    version: int | None = None
    reason: str = ""
    since_ms: int = 0
    watermark_ms: int | None = None
    details: dict[str, Any] = field(default_factory=dict)
    updated_ms: int = 0
    paused_ms: int | None = None
    paused_by: str | None = None
    checked_ms: int | None = None

    @property
    def resting(self) -> bool:
        """True between cycles (idle, or the last cycle ended)."""
        return self.state in LOOP_RESTING_STATES

    @property
    def paused(self) -> bool:
        """An operator paused the loop: it triggers nothing and leaves its state as it is."""
        return self.paused_ms is not None


@dataclass(frozen=True)
class LoopTransition(ToDict):
    """One recorded move of a model's loop: from which state to which, why, when and by whom.

    A pause or resume is recorded as a move from a state to itself, with the operator as ``actor``.
    """

    id: int
    model: str
    cycle: int
    from_state: str
    to_state: str
    reason: str
    version: int | None
    time_ms: int
    details: dict[str, Any] = field(default_factory=dict)
    # how long the loop stayed in ``to_state``: until the model's next transition (None: still there)
    duration_ms: int | None = None
    actor: str | None = None

    @property
    def time(self) -> datetime:
        return datetime.fromtimestamp(self.time_ms / 1000, tz=UTC)


# platform roles, weakest first: each may do what the ones before it may (see loopwright.auth.role_allows)
Role = Literal["viewer", "editor", "maintainer", "admin"]
ROLES: tuple[str, ...] = ("viewer", "editor", "maintainer", "admin")


@dataclass(frozen=True)
class ApiToken(ToDict):
    """A bearer token issued to a user with one role. The secret is shown once, when it is created,
    and stored only as a SHA-256 hash, which this record never carries.

    Examples
    --------
    >>> import loopwright as lw
    >>> from datetime import datetime, timezone
    >>> token = lw.ApiToken("3f9a0c12", "ana", "editor", datetime(2026, 1, 1, tzinfo=timezone.utc),
    ...                     created_by="ops", expires=datetime(2026, 2, 1, tzinfo=timezone.utc))
    >>> token.active(datetime(2026, 1, 15, tzinfo=timezone.utc)), token.active(1_900_000_000_000)
    (True, False)
    >>> sorted(token.to_dict())
    ['created', 'created_by', 'expires', 'id', 'last_used', 'revoked', 'role', 'user']
    """

    id: str
    user: str
    role: Role
    created: datetime
    created_by: str | None = None
    expires: datetime | None = None
    revoked: datetime | None = None
    last_used: datetime | None = None

    def active(self, now: datetime | int | None = None) -> bool:
        """Neither revoked nor expired at ``now`` (an aware datetime or epoch ms; default: now)."""
        if self.revoked is not None:
            return False
        if self.expires is None:
            return True
        if now is None:
            now = now_ms()
        at = now if isinstance(now, datetime) else ms_to_datetime(now)
        return at is not None and at < self.expires


# -- LLM traces ----------------------------------------------------------------------------------
SpanKind = Literal["llm", "retriever", "tool", "agent", "chain", "embedding"]
SPAN_KINDS: tuple[str, ...] = ("llm", "retriever", "tool", "agent", "chain", "embedding")
SpanStatus = Literal["ok", "error"]


@dataclass(frozen=True)
class TraceSpan(ToDict):
    """One recorded span of a trace: a step (an LLM call, a retrieval, a tool call …) with its timings.

    ``attributes`` holds ``inputs``/``outputs`` (size-capped, redacted), token counts, cost, the model
    and prompt used, and anything the caller set. Times are microseconds since the epoch.

    Examples
    --------
    >>> span = TraceSpan("ab" * 16, "cd" * 8, None, "answer", "llm", "ok", 1_000, 251_000)
    >>> span.duration_ms
    250.0
    """

    trace_id: str
    span_id: str
    parent_id: str | None
    name: str
    kind: SpanKind
    status: SpanStatus
    start_us: int
    end_us: int | None
    attributes: dict[str, Any] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None

    @property
    def duration_ms(self) -> float | None:
        return None if self.end_us is None else (self.end_us - self.start_us) / 1000


@dataclass(frozen=True)
class Trace(ToDict):
    """A tree of spans (an agent's plan → tool calls → LLM calls) and what it links to.

    ``spans`` is filled by ``get_trace`` (in start order), empty in search results.

    Examples
    --------
    >>> trace = Trace("ab" * 16, "support-bot", "ok", 0, 1_500_000, prompt="support-answer/3")
    >>> trace.duration_ms, trace.prompt
    (1500.0, 'support-answer/3')
    """

    id: str
    name: str
    status: SpanStatus
    start_us: int
    end_us: int | None
    run_id: str | None = None
    prompt: str | None = None
    model: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cost: float | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    spans: list[TraceSpan] = field(default_factory=list)

    @property
    def duration_ms(self) -> float | None:
        return None if self.end_us is None else (self.end_us - self.start_us) / 1000

    @property
    def start_time(self) -> datetime:
        return datetime.fromtimestamp(self.start_us / 1_000_000, tz=UTC)


@dataclass(frozen=True)
class MetricHistoryArrays:
    """One metric's history, column by column (``Store.get_metric_history_arrays``): three numpy
    arrays instead of one object per point.

    Examples
    --------
    >>> import tempfile
    >>> from loopwright.store.sql import SqlStore
    >>> store = SqlStore(f"sqlite:///{tempfile.mkdtemp()}/lw.db")
    >>> run = store.create_run(store.create_experiment("h").id)
    >>> store.log_metrics([(run.id, MetricPoint("loss", 1 / (s + 1), s, 1)) for s in range(3)])
    >>> history = store.get_metric_history_arrays(run.id, "loss")
    >>> history.steps.tolist(), history.values.round(2).tolist()
    ([0, 1, 2], [1.0, 0.5, 0.33])
    >>> store.close()
    """

    steps: np.ndarray
    values: np.ndarray
    timestamps: np.ndarray

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: Any) -> Any:
        """How the REST wire builds one from JSON lists (NaN kept) and describes it in OpenAPI: pydantic
        cannot describe an ndarray itself. Imported here, so opening a store does not load pydantic."""
        import numpy as np
        from pydantic_core import core_schema as cs

        def column(item: Any) -> Any:
            return cs.typed_dict_field(cs.list_schema(item))

        lists = cs.typed_dict_schema(
            {
                "steps": column(cs.int_schema()),
                "values": column(cs.float_schema(allow_inf_nan=True)),
                "timestamps": column(cs.int_schema()),
            }
        )
        return cs.no_info_after_validator_function(
            lambda d: cls(
                np.asarray(d["steps"], dtype=np.int64),
                np.asarray(d["values"], dtype=np.float64),
                np.asarray(d["timestamps"], dtype=np.int64),
            ),
            lists,
        )
