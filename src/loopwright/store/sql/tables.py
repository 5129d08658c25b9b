"""SQLAlchemy Core tables: the schema Alembic migrations create.

Times are BIGINT milliseconds since the epoch (UTC): portable, indexable, cheap to compare.
A test checks that these tables and the migrated schema never drift apart.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# SQLite only auto-increments an INTEGER PRIMARY KEY (the rowid alias).
AutoId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Millis = sa.BigInteger
RunId = sa.String(32)

experiments = sa.Table(
    "experiments",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("name", sa.String(128), nullable=False, unique=True),
    sa.Column("lifecycle", sa.String(16), nullable=False, server_default="active"),
    sa.Column("created_ms", Millis, nullable=False),
    sa.Column("deleted_ms", Millis, nullable=True),
)

experiment_tags = sa.Table(
    "experiment_tags",
    metadata,
    sa.Column(
        "experiment_id", sa.String(32), sa.ForeignKey("experiments.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("key", sa.String(250), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

runs = sa.Table(
    "runs",
    metadata,
    sa.Column("id", RunId, primary_key=True),
    sa.Column(
        "experiment_id", sa.String(32), sa.ForeignKey("experiments.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("name", sa.String(256), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("start_ms", Millis, nullable=False),
    sa.Column("end_ms", Millis, nullable=True),
    # the last write (param, metric, tag, artifact, dataset, status); NULL: none since the start
    sa.Column("updated_ms", Millis, nullable=True),
    sa.Column("parent_id", RunId, nullable=True, index=True),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("lifecycle", sa.String(16), nullable=False, server_default="active"),
    sa.Column("deleted_ms", Millis, nullable=True),
    sa.Index(None, "experiment_id", "lifecycle", "start_ms"),
)

#: how much of a param's or tag's value its search index holds: a PostgreSQL B-tree entry is at most
#: 2,704 bytes and values run to 6,000 (params) and 65,536 (tags) characters. An equality filter adds
#: ``value_prefix(value) = value_prefix(wanted)`` so that index serves it (query.py).
VALUE_PREFIX_CHARS = 200


def value_prefix(value: sa.ColumnElement[str]) -> sa.ColumnElement[str]:
    """``substr(value, 1, 200)`` with literal bounds: an expression index matches only the same text."""
    return sa.func.substr(value, sa.literal_column("1"), sa.literal_column(str(VALUE_PREFIX_CHARS)))


# experiment_id on params, run_tags and latest_metrics is the run's (copied at write time, migration
# 0006): a search of one experiment walks its own index range instead of every experiment's rows.
# NULL only for rows a pre-0006 server wrote during the upgrade, until the backfill fills them.
params = sa.Table(
    "params",
    metadata,
    sa.Column("run_id", RunId, sa.ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("key", sa.String(250), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
    sa.Column("experiment_id", sa.String(32), nullable=True),
)
sa.Index(
    "ix_params_experiment_id_key_value", params.c.experiment_id, params.c.key, value_prefix(params.c.value)
)

run_tags = sa.Table(
    "run_tags",
    metadata,
    sa.Column("run_id", RunId, sa.ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("key", sa.String(250), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
    sa.Column("experiment_id", sa.String(32), nullable=True),
)
sa.Index(
    "ix_run_tags_experiment_id_key_value",
    run_tags.c.experiment_id,
    run_tags.c.key,
    value_prefix(run_tags.c.value),
)

# Full history. SQLite stores NaN as NULL, so NULL reads back as NaN.
metrics = sa.Table(
    "metrics",
    metadata,
    sa.Column("id", AutoId, primary_key=True, autoincrement=True),
    sa.Column("run_id", RunId, sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    sa.Column("key", sa.String(250), nullable=False),
    sa.Column("value", sa.Float, nullable=True),
    sa.Column("step", sa.BigInteger, nullable=False),
    sa.Column("timestamp_ms", Millis, nullable=False),
    sa.Index(None, "run_id", "key", "step"),
)

# One row per (run, key): what search_runs filters and sorts on without scanning history.
latest_metrics = sa.Table(
    "latest_metrics",
    metadata,
    sa.Column("run_id", RunId, sa.ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("key", sa.String(250), primary_key=True),
    sa.Column("value", sa.Float, nullable=True),
    sa.Column("step", sa.BigInteger, nullable=False),
    sa.Column("timestamp_ms", Millis, nullable=False),
    sa.Column("experiment_id", sa.String(32), nullable=True),
    sa.Index(None, "key", "value"),
    # run_id last: an ordered walk and a metric filter read run ids from the index alone (0007)
    sa.Index(None, "experiment_id", "key", "value", "run_id"),
)

dataset_inputs = sa.Table(
    "dataset_inputs",
    metadata,
    sa.Column("id", AutoId, primary_key=True, autoincrement=True),
    sa.Column("run_id", RunId, sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False, index=True),
    sa.Column("name", sa.String(256), nullable=False),
    sa.Column("digest", sa.String(64), nullable=False, index=True),
    sa.Column("context", sa.String(64), nullable=False),
    sa.Column("num_rows", sa.BigInteger, nullable=False),
    sa.Column("schema_json", sa.Text, nullable=False),
    sa.Column("source", sa.Text, nullable=True),
)

# Logical names in an owner's namespace (a run, a model version, ...) pointing to content-addressed blobs.
artifacts = sa.Table(
    "artifacts",
    metadata,
    sa.Column("owner_type", sa.String(32), primary_key=True),
    sa.Column("owner_id", sa.String(200), primary_key=True),  # a run id, or NAME/VERSION of a model version
    sa.Column("path", sa.String(1024), primary_key=True),
    sa.Column("digest", sa.String(64), nullable=False, index=True),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("created_ms", Millis, nullable=False),
)

# -- registry ------------------------------------------------------------------------------------
ModelName = sa.String(128)

# last_version is the counter new versions take their number from (under this row's lock).
registered_models = sa.Table(
    "registered_models",
    metadata,
    sa.Column("name", ModelName, primary_key=True),
    sa.Column("description", sa.Text, nullable=True),
    sa.Column("last_version", sa.Integer, nullable=False, server_default="0"),
    sa.Column("created_ms", Millis, nullable=False),
    sa.Column("updated_ms", Millis, nullable=False),
    # "model" or "prompt": prompts are versioned, aliased and audited exactly like models
    sa.Column("kind", sa.String(16), nullable=False, server_default="model"),
)

registered_model_tags = sa.Table(
    "registered_model_tags",
    metadata,
    sa.Column(
        "name", ModelName, sa.ForeignKey("registered_models.name", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("key", sa.String(250), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

# No foreign key to runs: a version outlives the run it came from (gc may purge the run).
model_versions = sa.Table(
    "model_versions",
    metadata,
    sa.Column(
        "name", ModelName, sa.ForeignKey("registered_models.name", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("run_id", RunId, nullable=True, index=True),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("manifest_digest", sa.String(64), nullable=True),
    sa.Column("status", sa.String(16), nullable=False, server_default="ready"),
    sa.Column("description", sa.Text, nullable=True),
    sa.Column("created_ms", Millis, nullable=False),
    sa.Column("created_by", sa.String(256), nullable=False),
    sa.Column("updated_ms", Millis, nullable=False),
)

model_version_tags = sa.Table(
    "model_version_tags",
    metadata,
    sa.Column("name", ModelName, primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("key", sa.String(250), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
    sa.ForeignKeyConstraint(
        ["name", "version"], ["model_versions.name", "model_versions.version"], ondelete="CASCADE"
    ),
)

model_aliases = sa.Table(
    "model_aliases",
    metadata,
    sa.Column("name", ModelName, primary_key=True),
    sa.Column("alias", sa.String(128), primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("updated_ms", Millis, nullable=False),
    sa.ForeignKeyConstraint(
        ["name", "version"], ["model_versions.name", "model_versions.version"], ondelete="CASCADE"
    ),
)

# Append-only history of registry changes; before/after are JSON snapshots of what changed.
audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("id", AutoId, primary_key=True, autoincrement=True),
    sa.Column("entity", sa.String(32), nullable=False),
    sa.Column("name", ModelName, nullable=False),
    sa.Column("version", sa.Integer, nullable=True),
    sa.Column("action", sa.String(32), nullable=False),
    sa.Column("actor", sa.String(256), nullable=False),
    sa.Column("time_ms", Millis, nullable=False),
    sa.Column("before_json", sa.Text, nullable=True),
    sa.Column("after_json", sa.Text, nullable=True),
    sa.Index(None, "name", "id"),
)

# Generic provenance graph: dataset -> step -> run -> model_version -> deployment, etc.
lineage_edges = sa.Table(
    "lineage_edges",
    metadata,
    sa.Column("id", AutoId, primary_key=True, autoincrement=True),
    sa.Column("src_type", sa.String(32), nullable=False),
    sa.Column("src_id", sa.String(256), nullable=False),
    sa.Column("dst_type", sa.String(32), nullable=False),
    sa.Column("dst_id", sa.String(256), nullable=False),
    sa.Column("relation", sa.String(64), nullable=False),
    sa.Column("created_ms", Millis, nullable=False),
    sa.UniqueConstraint("src_type", "src_id", "dst_type", "dst_id", "relation"),
    sa.Index(None, "dst_type", "dst_id"),
)

# -- pipelines -------------------------------------------------------------------------------------
# A pipeline run is a tracking run (same id) plus what the pipeline layer knows: the DAG, the executor.
pipeline_runs = sa.Table(
    "pipeline_runs",
    metadata,
    sa.Column("id", RunId, sa.ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("pipeline", sa.String(256), nullable=False, index=True),
    sa.Column("ref", sa.String(1024), nullable=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("executor", sa.String(256), nullable=False),
    sa.Column("params_json", sa.Text, nullable=False),
    sa.Column("cache", sa.Boolean, nullable=False),
    sa.Column("resumed_from", RunId, nullable=True),
    sa.Column("start_ms", Millis, nullable=False),
    sa.Column("end_ms", Millis, nullable=True),
    sa.Column("error", sa.Text, nullable=True),
    sa.Index(None, "start_ms"),
)

# One row per DAG node of a pipeline run; run_id is the node's nested tracking run (none if skipped).
step_runs = sa.Table(
    "step_runs",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column(
        "pipeline_run_id", RunId, sa.ForeignKey("pipeline_runs.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("node", sa.String(256), nullable=False),
    sa.Column("step", sa.String(256), nullable=False),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("upstream_json", sa.Text, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("run_id", RunId, sa.ForeignKey("runs.id", ondelete="SET NULL"), nullable=True, index=True),
    sa.Column("cache_key", sa.String(64), nullable=True, index=True),
    sa.Column("cache_hit", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("cached_from", sa.String(32), nullable=True),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("start_ms", Millis, nullable=True),
    sa.Column("end_ms", Millis, nullable=True),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("logs_tail", sa.Text, nullable=True),
    sa.UniqueConstraint("pipeline_run_id", "node"),
)

# What each step run read and wrote: artifact digests (by materialiser), local files, dataset fingerprints.
# The lineage walk (model → step run → inputs → producing step runs → pipeline run) follows these rows.
step_io = sa.Table(
    "step_io",
    metadata,
    sa.Column("id", AutoId, primary_key=True, autoincrement=True),
    sa.Column(
        "step_run_id",
        sa.String(32),
        sa.ForeignKey("step_runs.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("direction", sa.String(8), nullable=False),
    sa.Column("name", sa.String(256), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("digest", sa.String(64), nullable=False, index=True),
    sa.Column("size", sa.BigInteger, nullable=True),
    sa.Column("materializer", sa.String(128), nullable=True),
    sa.Column("type_name", sa.String(256), nullable=True),
    sa.Column("path", sa.String(1024), nullable=True),
    sa.Column("dataset_digest", sa.String(64), nullable=True, index=True),
    sa.Column("num_rows", sa.BigInteger, nullable=True),
)

# -- serving ---------------------------------------------------------------------------------------
# The prediction log is Parquet in the blob store (one file per flush, endpoint, model version and
# hour); this index says which file holds which endpoint's rows for which time range.
prediction_log_files = sa.Table(
    "prediction_log_files",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("endpoint", sa.String(128), nullable=False),
    sa.Column("model_name", sa.String(128), nullable=True),
    sa.Column("model_version", sa.Integer, nullable=True),
    sa.Column("shadow", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("min_ts_ms", Millis, nullable=False),
    sa.Column("max_ts_ms", Millis, nullable=False),
    sa.Column("rows", sa.Integer, nullable=False),
    sa.Column("path", sa.String(1024), nullable=False),
    sa.Column("digest", sa.String(64), nullable=False),
    sa.Column("created_ms", Millis, nullable=False),
    sa.Index(None, "endpoint", "min_ts_ms"),
)

# Ground truth for logged predictions; logging a label again for the same row replaces it.
prediction_feedback = sa.Table(
    "prediction_feedback",
    metadata,
    sa.Column("endpoint", sa.String(128), primary_key=True),
    sa.Column("request_id", sa.String(64), primary_key=True),
    sa.Column("row", sa.Integer, primary_key=True),
    sa.Column("label", sa.Text, nullable=False),
    sa.Column("timestamp_ms", Millis, nullable=False),
    sa.Index(None, "endpoint", "timestamp_ms"),
)

# Live monitoring: one row per endpoint window (re-running a window replaces it).
monitor_windows = sa.Table(
    "monitor_windows",
    metadata,
    sa.Column("endpoint", sa.String(128), primary_key=True),
    sa.Column("start_ms", Millis, primary_key=True),
    sa.Column("end_ms", Millis, primary_key=True),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("closed", sa.Boolean, nullable=False),
    sa.Column("model_versions", sa.Text, nullable=False),
    sa.Column("rows", sa.Integer, nullable=False),
    sa.Column("labelled", sa.Integer, nullable=False),
    sa.Column("drifted", sa.Boolean, nullable=True),
    sa.Column("drift", sa.Text, nullable=False),
    sa.Column("metrics", sa.Text, nullable=False),
    sa.Column("estimated", sa.Text, nullable=False),
    sa.Column("alerts", sa.Text, nullable=False),
    sa.Column("updated_ms", Millis, nullable=False),
)

# Per endpoint and rule: firing or not, so an alert fires once while its condition persists.
monitor_alert_state = sa.Table(
    "monitor_alert_state",
    metadata,
    sa.Column("endpoint", sa.String(128), primary_key=True),
    sa.Column("rule", sa.String(256), primary_key=True),
    sa.Column("firing", sa.Boolean, nullable=False),
    sa.Column("since_ms", Millis, nullable=True),
    sa.Column("last_end_ms", Millis, nullable=False),
    sa.Column("value", sa.Float, nullable=True),
    sa.Column("updated_ms", Millis, nullable=False),
)

# Alert transitions (firing / resolved) and their webhook delivery; pending ones are retried.
monitor_alerts = sa.Table(
    "monitor_alerts",
    metadata,
    sa.Column("id", AutoId, primary_key=True, autoincrement=True),
    sa.Column("endpoint", sa.String(128), nullable=False),
    sa.Column("rule", sa.String(256), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("start_ms", Millis, nullable=False),
    sa.Column("end_ms", Millis, nullable=False),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("payload", sa.Text, nullable=False),
    sa.Column("delivery", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("created_ms", Millis, nullable=False),
    sa.Column("delivered_ms", Millis, nullable=True),
    sa.Index(None, "endpoint", "created_ms"),
    sa.Index(None, "delivery"),
)

# The loop controller: one row per registered model (its current state) ...
loop_states = sa.Table(
    "loop_states",
    metadata,
    sa.Column("model", sa.String(128), primary_key=True),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("cycle", sa.Integer, nullable=False),
    sa.Column("version", sa.Integer, nullable=True),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("since_ms", Millis, nullable=False),
    sa.Column("watermark_ms", Millis, nullable=True),
    sa.Column("details", sa.Text, nullable=False),
    sa.Column("updated_ms", Millis, nullable=False),
    # an operator's pause (``loopwright loop pause``): the loop triggers and advances nothing meanwhile
    sa.Column("paused_ms", Millis, nullable=True),
    sa.Column("paused_by", sa.String(128), nullable=True),
    # the schedule trigger's last look: a cron slot fires only if it falls after it
    sa.Column("checked_ms", Millis, nullable=True),
)

# ... and every transition it made, in order.
loop_transitions = sa.Table(
    "loop_transitions",
    metadata,
    sa.Column("id", AutoId, primary_key=True, autoincrement=True),
    sa.Column("model", sa.String(128), nullable=False),
    sa.Column("cycle", sa.Integer, nullable=False),
    sa.Column("from_state", sa.String(16), nullable=False),
    sa.Column("to_state", sa.String(16), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("version", sa.Integer, nullable=True),
    sa.Column("time_ms", Millis, nullable=False),
    sa.Column("details", sa.Text, nullable=False),
    sa.Column("actor", sa.String(128), nullable=True),
    sa.Index(None, "model", "id"),
)

# Platform server tokens: only a SHA-256 of the secret is kept; ``role`` is viewer|editor|maintainer|admin.
api_tokens = sa.Table(
    "api_tokens",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("user", sa.String(128), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("created_ms", Millis, nullable=False),
    sa.Column("created_by", sa.String(128), nullable=True),
    sa.Column("expires_ms", Millis, nullable=True),
    sa.Column("revoked_ms", Millis, nullable=True),
    sa.Column("last_used_ms", Millis, nullable=True),
)

# Write requests the server applied, by their client's Idempotency-Key: the key is inserted in the
# write's own transaction, so a request retried on another server after a crash is applied once.
idempotency_keys = sa.Table(
    "idempotency_keys",
    metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("created_ms", Millis, nullable=False, index=True),
    sa.Column("response", sa.Text, nullable=True),
)

# LLM traces: one row per trace (a tree of spans), with what search filters on ...
traces = sa.Table(
    "traces",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("name", sa.String(256), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("start_us", sa.BigInteger, nullable=False, index=True),
    sa.Column("end_us", sa.BigInteger, nullable=True),
    sa.Column("run_id", sa.String(32), nullable=True, index=True),
    sa.Column("prompt", sa.String(200), nullable=True),  # NAME/VERSION of the prompt it used
    sa.Column("model", sa.String(200), nullable=True),  # NAME/VERSION of the model it used
    sa.Column("input_tokens", sa.BigInteger, nullable=True),
    sa.Column("output_tokens", sa.BigInteger, nullable=True),
    sa.Column("cost", sa.Float, nullable=True),
    sa.Column("attributes", sa.Text, nullable=False),  # JSON
)

# ... and its spans (OpenTelemetry's shape: ids, parent, kind, times in microseconds, attributes, events)
spans = sa.Table(
    "spans",
    metadata,
    sa.Column("trace_id", sa.String(32), primary_key=True),
    sa.Column("span_id", sa.String(16), primary_key=True),
    sa.Column("parent_id", sa.String(16), nullable=True),
    sa.Column("name", sa.String(256), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("start_us", sa.BigInteger, nullable=False),
    sa.Column("end_us", sa.BigInteger, nullable=True),
    sa.Column("attributes", sa.Text, nullable=False),  # JSON
    sa.Column("events", sa.Text, nullable=True),  # JSON
    sa.Column("error", sa.Text, nullable=True),
)
