"""Experiments, runs, params, metrics, tags, dataset inputs and artifact records in SQL."""

from __future__ import annotations

import json
import math
import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import orjson
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.engine import Connection

from loopwright.errors import AlreadyExists, Conflict, InvalidInput, NotFound
from loopwright.names import validate_name
from loopwright.store.entities import (
    RUN_STATUSES,
    ArtifactRef,
    DatasetInput,
    Experiment,
    GcReport,
    MetricHistoryArrays,
    MetricPoint,
    Run,
    RunStatus,
    ms_to_datetime,
    now_ms,
    split_tags,
)
from loopwright.store.search import OrderKey, parse_filter, parse_order_by
from loopwright.store.sql.base import SqlBase, unique_prefix_row
from loopwright.store.sql.query import SearchEntity, anchor_query, search_parts
from loopwright.store.sql.tables import (
    VALUE_PREFIX_CHARS,
    artifacts,
    dataset_inputs,
    experiment_tags,
    experiments,
    latest_metrics,
    metrics,
    params,
    run_tags,
    runs,
    value_prefix,
)

MAX_PARAM_LENGTH = 6000
MAX_TAG_LENGTH = 65536
# SQLite caps bound parameters per statement; stay well under it when selecting by id lists.
_ID_CHUNK = 500


def _keyed(table: Any) -> tuple[Any, Any]:
    """A run's key/value table (metrics, params, tags) joined on run id and key."""
    return table, lambda alias, key: (alias.c.run_id == runs.c.id) & (alias.c.key == key)


RUN_SEARCH = SearchEntity(
    table=runs,
    columns={
        "status": runs.c.status,
        "name": runs.c.name,
        "start_time": runs.c.start_ms,
        "end_time": runs.c.end_ms,
        "run_id": runs.c.id,
        "parent_id": runs.c.parent_id,
        "experiment_id": runs.c.experiment_id,
    },
    joins={"metric": _keyed(latest_metrics), "param": _keyed(params), "tag": _keyed(run_tags)},
    tiebreak=(runs.c.start_ms.desc(), runs.c.id),
    noun="runs",
    prefixed={"param": (value_prefix, VALUE_PREFIX_CHARS), "tag": (value_prefix, VALUE_PREFIX_CHARS)},
    member=lambda alias: alias.c.run_id,
)


def _new_id() -> str:
    return uuid.uuid4().hex


def _value(raw: float | None) -> float:
    return math.nan if raw is None else float(raw)


param_table = params  # log_params's argument has the table's name


# statements every metric write runs, built once (constructing them cost more than executing them)
_TOUCH = (
    runs.update()
    .where(runs.c.id.in_(sa.bindparam("ids", expanding=True)), runs.c.status == "running")
    .values(updated_ms=sa.bindparam("now"))
)
_LATEST_UPSERTS: dict[str, Any] = {}
# a run inserted only into an active experiment: the check and the insert in one statement (one
# PostgreSQL round trip fewer per run start); no row back means the experiment is missing or deleted
_INSERT_RUN = (
    runs.insert()
    .from_select(
        ["id", "experiment_id", "name", "status", "start_ms", "parent_id"],
        sa.select(
            sa.bindparam("id", type_=runs.c.id.type),
            experiments.c.id,
            sa.bindparam("name", type_=runs.c.name.type),
            sa.literal("running", type_=runs.c.status.type),
            sa.bindparam("start_ms", type_=runs.c.start_ms.type),
            sa.bindparam("parent_id", type_=runs.c.parent_id.type),
        ).where(experiments.c.id == sa.bindparam("experiment_id"), experiments.c.lifecycle == "active"),
    )
    .returning(runs.c.id)
)

# a run's params (kind 0), tags (1) and latest metrics (2) in one statement; text and number in their
# own columns, so each keeps its type on both dialects
_METRIC = 2
_HYDRATE = sa.union_all(
    *(
        sa.select(
            sa.literal(kind).label("kind"),
            table.c.run_id,
            table.c.key,
            (table.c.value if kind != _METRIC else sa.cast(sa.null(), sa.Text)).label("text"),
            (table.c.value if kind == _METRIC else sa.cast(sa.null(), sa.Float)).label("number"),
        ).where(table.c.run_id.in_(sa.bindparam("ids", expanding=True)))
        for kind, table in ((0, params), (1, run_tags), (_METRIC, latest_metrics))
    )
)


class TrackingSql(SqlBase):
    """Tracking half of :class:`~loopwright.store.sql.SqlStore`."""

    # -- experiments -------------------------------------------------------------------------
    def create_experiment(self, name: str, tags: Mapping[str, str] | None = None) -> Experiment:
        validate_name(name, "experiment name")
        experiment_id = _new_id()
        try:
            with self._write() as conn:
                existing = conn.execute(
                    sa.select(experiments.c.lifecycle).where(experiments.c.name == name)
                ).scalar()
                if existing is not None:
                    hint = (
                        " (it is deleted: restore it, or run `loopwright gc` to free the name)"
                        if existing == "deleted"
                        else ""
                    )
                    raise AlreadyExists(f"experiment {name!r} already exists{hint}")
                conn.execute(experiments.insert().values(id=experiment_id, name=name, created_ms=now_ms()))
                if tags:
                    conn.execute(
                        experiment_tags.insert(),
                        [
                            {"experiment_id": experiment_id, "key": k, "value": str(v)}
                            for k, v in tags.items()
                        ],
                    )
        except sa.exc.IntegrityError as exc:
            raise AlreadyExists(f"experiment {name!r} already exists") from exc
        return self.get_experiment(experiment_id)

    def get_experiment(self, experiment_id: str) -> Experiment:
        with self._read() as conn:
            row = conn.execute(sa.select(experiments).where(experiments.c.id == experiment_id)).first()
            if row is None:
                raise NotFound(f"experiment {experiment_id!r} not found")
            return self._experiment(conn, row)

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        with self._read() as conn:
            row = conn.execute(sa.select(experiments).where(experiments.c.name == name)).first()
            return None if row is None else self._experiment(conn, row)

    def list_experiments(self, include_deleted: bool = False) -> list[Experiment]:
        query = sa.select(experiments).order_by(experiments.c.created_ms)
        if not include_deleted:
            query = query.where(experiments.c.lifecycle == "active")
        with self._read() as conn:
            return [self._experiment(conn, row) for row in conn.execute(query)]

    def _experiment(self, conn: Connection, row: Any) -> Experiment:
        tags = dict(
            conn.execute(
                sa.select(experiment_tags.c.key, experiment_tags.c.value).where(
                    experiment_tags.c.experiment_id == row.id
                )
            ).all()
        )
        return Experiment(
            id=row.id,
            name=row.name,
            lifecycle=row.lifecycle,
            tags=tags,
            created_at=ms_to_datetime(row.created_ms),
            deleted_at=ms_to_datetime(row.deleted_ms),
        )

    def delete_experiment(self, experiment_id: str) -> None:
        self._set_experiment_lifecycle(experiment_id, "deleted")

    def restore_experiment(self, experiment_id: str) -> None:
        self._set_experiment_lifecycle(experiment_id, "active")

    def _set_experiment_lifecycle(self, experiment_id: str, lifecycle: str) -> None:
        deleted_ms = now_ms() if lifecycle == "deleted" else None
        with self._write() as conn:
            result = conn.execute(
                experiments.update()
                .where(experiments.c.id == experiment_id)
                .values(lifecycle=lifecycle, deleted_ms=deleted_ms)
            )
            if result.rowcount == 0:
                raise NotFound(f"experiment {experiment_id!r} not found")

    # -- runs ----------------------------------------------------------------------------------
    def create_run(
        self,
        experiment_id: str,
        name: str | None = None,
        tags: Mapping[str, str] | None = None,
        parent_id: str | None = None,
        start_ms: int | None = None,
        run_id: str | None = None,
    ) -> Run:
        if run_id is None:
            run_id = _new_id()
        elif not (isinstance(run_id, str) and len(run_id) == 32 and set(run_id) <= set("0123456789abcdef")):
            raise InvalidInput(f"a run id is 32 lower-case hex digits, got {run_id!r}")
        name = name or f"run-{run_id[:8]}"
        if not isinstance(name, str) or len(name) > 256:
            raise InvalidInput("run name must be a string of at most 256 characters")
        start_ms = start_ms or now_ms()
        with self._write() as conn:
            values = {"id": run_id, "experiment_id": experiment_id, "name": name, "start_ms": start_ms}
            if conn.execute(_INSERT_RUN, {**values, "parent_id": parent_id}).first() is None:
                lifecycle = conn.execute(
                    sa.select(experiments.c.lifecycle).where(experiments.c.id == experiment_id)
                ).scalar()
                if lifecycle is None:
                    raise NotFound(f"experiment {experiment_id!r} not found")
                raise Conflict(f"experiment {experiment_id!r} is deleted; restore it before adding runs")
            if (
                parent_id is not None
                and conn.execute(sa.select(runs.c.id).where(runs.c.id == parent_id)).first() is None
            ):
                raise NotFound(f"parent run {parent_id!r} not found")  # the insert rolls back
            if tags:
                conn.execute(
                    run_tags.insert(), [{"run_id": run_id, "key": k, "value": v} for k, v in tags.items()]
                )
        user_tags, system_tags = split_tags(dict(tags or {}))
        return Run(
            id=run_id,
            experiment_id=experiment_id,
            name=name,
            status="running",
            start_time=ms_to_datetime(start_ms),  # type: ignore[arg-type]
            parent_id=parent_id,
            tags=user_tags,
            system_tags=system_tags,
            last_activity=ms_to_datetime(start_ms),
        )

    def get_run(self, run_id: str) -> Run:
        """A run by id, or by a unique prefix of at least 8 characters (what the CLI's tables show)."""
        with self._read() as conn:
            row = conn.execute(sa.select(runs).where(runs.c.id == run_id)).first()
            if row is None:
                row = unique_prefix_row(conn, runs, run_id, "run")
            return self._hydrate(conn, [row])[0]

    def _hydrate(self, conn: Connection, rows: Sequence[Any]) -> list[Run]:
        """Attach params, latest metrics and tags to run rows: one query per chunk of ids (a
        UNION ALL of the three tables: one round trip, not three, which is what ending a run costs)."""
        ids = [row.id for row in rows]
        param_map: dict[str, dict[str, str]] = defaultdict(dict)
        metric_map: dict[str, dict[str, float]] = defaultdict(dict)
        tag_map: dict[str, dict[str, str]] = defaultdict(dict)
        maps = (param_map, tag_map)
        for chunk_start in range(0, len(ids), _ID_CHUNK):
            chunk = ids[chunk_start : chunk_start + _ID_CHUNK]
            # .all() fetches each answer in one go (iterating fetches row by row)
            for kind, run_id, key, text, number in conn.execute(_HYDRATE, {"ids": chunk}).all():
                if kind == _METRIC:
                    metric_map[run_id][key] = _value(number)
                else:
                    maps[kind][run_id][key] = text
        runs_out = []
        for row in rows:
            tags, system_tags = split_tags(tag_map.get(row.id, {}))
            runs_out.append(
                Run(
                    id=row.id,
                    experiment_id=row.experiment_id,
                    name=row.name,
                    status=row.status,
                    start_time=ms_to_datetime(row.start_ms),  # type: ignore[arg-type]
                    end_time=ms_to_datetime(row.end_ms),
                    parent_id=row.parent_id,
                    params=param_map.get(row.id, {}),
                    metrics=metric_map.get(row.id, {}),
                    tags=tags,
                    system_tags=system_tags,
                    error=row.error,
                    lifecycle=row.lifecycle,
                    last_activity=ms_to_datetime(row.updated_ms or row.start_ms),
                )
            )
        return runs_out

    def set_run_status(
        self, run_id: str, status: RunStatus, end_ms: int | None = None, error: str | None = None
    ) -> Run:
        if status not in RUN_STATUSES:
            raise InvalidInput(f"run status must be one of {', '.join(RUN_STATUSES)}, got {status!r}")
        values: dict[str, Any] = {"status": status, "error": error, "updated_ms": now_ms()}
        values["end_ms"] = None if status == "running" else (end_ms or values["updated_ms"])
        # the run is read back in the write's own transaction: one transaction, not two (a run
        # ends through the server with one request; each transaction costs PostgreSQL round trips)
        with self._write() as conn:
            row = conn.execute(
                runs.update().where(runs.c.id == run_id).values(**values).returning(runs)
            ).first()
            if row is None:
                raise NotFound(f"run {run_id!r} not found")
            return self._hydrate(conn, [row])[0]

    def fail_abandoned_run(self, run_id: str, last_activity_ms: int, error: str) -> Run | None:
        with self._write() as conn:
            ended = conn.execute(
                runs.update()
                .where(
                    runs.c.id == run_id,
                    runs.c.status == "running",
                    sa.func.coalesce(runs.c.updated_ms, runs.c.start_ms) <= last_activity_ms,
                )
                .values(status="failed", end_ms=last_activity_ms, error=error)
            ).rowcount
        return self.get_run(run_id) if ended else None

    def delete_run(self, run_id: str) -> None:
        self._set_run_lifecycle(run_id, "deleted")

    def restore_run(self, run_id: str) -> None:
        self._set_run_lifecycle(run_id, "active")

    def _set_run_lifecycle(self, run_id: str, lifecycle: str) -> None:
        deleted_ms = now_ms() if lifecycle == "deleted" else None
        with self._write() as conn:
            result = conn.execute(
                runs.update().where(runs.c.id == run_id).values(lifecycle=lifecycle, deleted_ms=deleted_ms)
            )
            if result.rowcount == 0:
                raise NotFound(f"run {run_id!r} not found")

    def _touch_run(self, conn: Connection, run_id: str) -> bool:
        """Record a write to a run; False if there is no such run."""
        return bool(
            conn.execute(runs.update().where(runs.c.id == run_id).values(updated_ms=now_ms())).rowcount
        )

    def _touch_running(self, conn: Connection, run_ids: Iterable[str]) -> None:
        """Record a write to running runs (their last activity); refuse missing and ended runs."""
        wanted = set(run_ids)
        touched = conn.execute(_TOUCH, {"ids": list(wanted), "now": now_ms()}).rowcount
        if touched == len(wanted):
            return
        found = dict(conn.execute(sa.select(runs.c.id, runs.c.status).where(runs.c.id.in_(wanted))).all())
        for run_id in wanted:
            status = found.get(run_id)
            if status is None:
                raise NotFound(f"run {run_id!r} not found")
            if status != "running":
                raise Conflict(f"run {run_id!r} is {status}; it no longer accepts writes")

    def log_params(self, run_id: str, params: Mapping[str, str]) -> None:
        if not params:
            return
        for key, value in params.items():
            if len(value) > MAX_PARAM_LENGTH:
                raise InvalidInput(
                    f"param {key!r} is {len(value)} characters long; the limit is {MAX_PARAM_LENGTH}"
                )
        with self._write() as conn:
            self._touch_running(conn, [run_id])
            conn.execute(
                self._insert(param_table).on_conflict_do_nothing(index_elements=["run_id", "key"]),
                [{"run_id": run_id, "key": k, "value": v} for k, v in params.items()],
            )
            stored = dict(
                conn.execute(
                    sa.select(param_table.c.key, param_table.c.value).where(
                        param_table.c.run_id == run_id, param_table.c.key.in_(list(params))
                    )
                ).all()
            )
            for key, value in params.items():
                if stored[key] != value:
                    raise Conflict(
                        f"param {key!r} of run {run_id!r} is already {stored[key]!r}; "
                        f"params are immutable, cannot change it to {value!r}"
                    )

    def set_tags(self, run_id: str, tags: Mapping[str, str]) -> None:
        if not tags:
            return
        for key, value in tags.items():
            if len(value) > MAX_TAG_LENGTH:
                raise InvalidInput(f"tag {key!r} is longer than {MAX_TAG_LENGTH} characters")
        with self._write() as conn:
            if not self._touch_run(conn, run_id):
                raise NotFound(f"run {run_id!r} not found")
            stmt = self._insert(run_tags)
            conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=["run_id", "key"], set_={"value": stmt.excluded.value}
                ),
                [{"run_id": run_id, "key": k, "value": v} for k, v in tags.items()],
            )

    def delete_tag(self, run_id: str, key: str) -> None:
        with self._write() as conn:
            result = conn.execute(run_tags.delete().where(run_tags.c.run_id == run_id, run_tags.c.key == key))
            if result.rowcount == 0:
                raise NotFound(f"run {run_id!r} has no tag {key!r}")
            self._touch_run(conn, run_id)

    def log_metrics(self, points: Sequence[tuple[str, MetricPoint]]) -> None:
        if not points:
            return
        history = [
            {
                "run_id": run_id,
                "key": p.key,
                "value": None if math.isnan(p.value) else p.value,
                "step": p.step,
                "timestamp_ms": p.timestamp,
            }
            for run_id, p in points
        ]
        # only the newest point per (run, key) can change latest_metrics
        newest: dict[tuple[Any, Any], dict[str, Any]] = {}
        for row in history:
            slot = (row["run_id"], row["key"])
            current = newest.get(slot)
            if current is None or (row["step"], row["timestamp_ms"]) >= (
                current["step"],
                current["timestamp_ms"],
            ):
                newest[slot] = row
        with self._write() as conn:
            self._touch_running(conn, {run_id for run_id, _ in points})
            if conn.dialect.driver == "psycopg" and len(history) >= COPY_MIN_ROWS:
                _copy_history(conn, history)
            elif conn.dialect.name == "sqlite" and len(history) >= COPY_MIN_ROWS:
                # the driver's executemany over tuples: SQLAlchemy's per-row parameter handling
                # costs more than SQLite's insert at 100,000 points a call
                conn.exec_driver_sql(
                    f"INSERT INTO {metrics.name} ({', '.join(_HISTORY_COLUMNS)}) VALUES (?, ?, ?, ?, ?)",
                    [(r["run_id"], r["key"], r["value"], r["step"], r["timestamp_ms"]) for r in history],
                )
            else:
                conn.execute(metrics.insert(), history)
            conn.execute(self._latest_upsert(), list(newest.values()))

    def _latest_upsert(self) -> Any:
        """The ``latest_metrics`` upsert (a newer point replaces the value), built once per dialect:
        building ``excluded`` costs more than the SQLite write of one point (profiled)."""
        dialect = self.engine.dialect.name
        cached = _LATEST_UPSERTS.get(dialect)
        if cached is None:
            stmt = self._insert(latest_metrics)
            excluded = stmt.excluded
            newer = (excluded.step > latest_metrics.c.step) | (
                (excluded.step == latest_metrics.c.step)
                & (excluded.timestamp_ms >= latest_metrics.c.timestamp_ms)
            )
            cached = _LATEST_UPSERTS[dialect] = stmt.on_conflict_do_update(
                index_elements=["run_id", "key"],
                set_={"value": excluded.value, "step": excluded.step, "timestamp_ms": excluded.timestamp_ms},
                where=newer,
            )
        return cached

    def list_metric_history(self, run_id: str, key: str) -> list[MetricPoint]:
        with self._read() as conn:
            if conn.execute(sa.select(runs.c.id).where(runs.c.id == run_id)).first() is None:
                raise NotFound(f"run {run_id!r} not found")
            rows = conn.execute(
                sa.select(metrics.c.value, metrics.c.step, metrics.c.timestamp_ms)
                .where(metrics.c.run_id == run_id, metrics.c.key == key)
                .order_by(metrics.c.step, metrics.c.timestamp_ms, metrics.c.id)
            ).all()
        return [MetricPoint(key, _value(value), step, ts) for value, step, ts in rows]

    def get_metric_history_arrays(self, run_id: str, key: str) -> MetricHistoryArrays:
        """One key's history as three numpy arrays (steps, values, timestamps), ordered like
        :meth:`list_metric_history`.

        The database aggregates each column into one value (PostgreSQL ``array_agg``, SQLite
        ``json_group_array``), so 10,000 steps arrive as three lists of numbers, not 10,000 row
        tuples and 10,000 objects: nothing for the garbage collector to walk (numbers are not
        tracked), so no collector pause however long the history.
        """
        order = (metrics.c.step, metrics.c.timestamp_ms, metrics.c.id)
        with self._read() as conn:
            if conn.execute(sa.select(runs.c.id).where(runs.c.id == run_id)).first() is None:
                raise NotFound(f"run {run_id!r} not found")
            where = (metrics.c.run_id == run_id) & (metrics.c.key == key)
            if conn.dialect.name == "postgresql":
                columns = [
                    sa.func.array_agg(aggregate_order_by(c, *order))
                    for c in (metrics.c.step, metrics.c.value, metrics.c.timestamp_ms)
                ]
                answer: Sequence[Any] = conn.execute(sa.select(*columns).where(where)).one()
            else:  # json_group_array keeps the order of its input rows
                ordered = sa.select(metrics.c.step, metrics.c.value, metrics.c.timestamp_ms).where(where)
                inner = ordered.order_by(*order).subquery()
                row = conn.execute(sa.select(*(sa.func.json_group_array(c) for c in inner.c))).one()
                answer = [orjson.loads(text) for text in row]
        steps, values, stamps = answer
        return MetricHistoryArrays(
            steps=np.asarray(steps or [], dtype=np.int64),
            values=np.asarray(values or [], dtype=np.float64),  # NULL (NaN in SQLite) -> nan
            timestamps=np.asarray(stamps or [], dtype=np.int64),
        )

    # -- search --------------------------------------------------------------------------------
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
        clauses = parse_filter(filter)
        orders = parse_order_by(order_by)
        query = sa.select(runs)
        if experiment_ids is not None:
            query = query.where(runs.c.experiment_id.in_(list(experiment_ids)))
        if not include_deleted:
            active_experiments = sa.select(experiments.c.id).where(experiments.c.lifecycle == "active")
            query = query.where(runs.c.lifecycle == "active", runs.c.experiment_id.in_(active_experiments))
        scope = None
        if experiment_ids is not None:
            wanted = list(experiment_ids)

            def scope(alias: Any) -> Any:  # the run's experiment, copied onto each key/value row (0006)
                return alias.c.experiment_id.in_(wanted)

        with self._read() as conn:
            anchors = None
            if after_run_id is not None:
                if conn.execute(sa.select(runs.c.id).where(runs.c.id == after_run_id)).first() is None:
                    raise InvalidInput(
                        f"after_run_id {after_run_id!r}: no such run (pass the last run id of the previous page)"
                    )
                anchors = conn.execute(anchor_query(RUN_SEARCH, orders, after_run_id)).one()
            parts = search_parts(
                RUN_SEARCH, query, clauses, orders, max_results, offset, after_run_id, scope, anchors
            )
            rows: list[Any] = []
            for part in parts:  # each is limited to max_results; later parts fill what is left
                if len(rows) >= max_results:
                    break
                rows += conn.execute(part.limit(max_results - len(rows))).all()
            return self._hydrate(conn, rows)

    # -- datasets ------------------------------------------------------------------------------
    def log_dataset_inputs(self, run_id: str, datasets: Sequence[DatasetInput]) -> None:
        if not datasets:
            return
        with self._write() as conn:
            self._touch_running(conn, [run_id])
            conn.execute(dataset_inputs.insert(), dataset_input_rows(run_id, datasets))

    def get_dataset_inputs(self, run_id: str) -> list[DatasetInput]:
        with self._read() as conn:
            rows = conn.execute(
                sa.select(dataset_inputs)
                .where(dataset_inputs.c.run_id == run_id)
                .order_by(dataset_inputs.c.id)
            ).all()
        return [
            DatasetInput(
                name=r.name,
                digest=r.digest,
                n_rows=r.num_rows,
                schema=json.loads(r.schema_json),
                context=r.context,
                source=r.source,
            )
            for r in rows
        ]

    # -- artifact records ----------------------------------------------------------------------
    def record_artifacts(self, owner_type: str, owner_id: str, refs: Iterable[ArtifactRef]) -> None:
        rows = [
            {
                "owner_type": owner_type,
                "owner_id": owner_id,
                "path": r.path,
                "digest": r.digest,
                "size": r.size,
                "created_ms": now_ms(),
            }
            for r in refs
        ]
        if not rows:
            return
        with self._write() as conn:
            if owner_type == "run":
                self._touch_running(conn, [owner_id])
            stmt = self._insert(artifacts)
            conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=["owner_type", "owner_id", "path"],
                    set_={
                        "digest": stmt.excluded.digest,
                        "size": stmt.excluded.size,
                        "created_ms": stmt.excluded.created_ms,
                    },
                ),
                rows,
            )

    def list_artifacts(self, owner_type: str, owner_id: str, prefix: str | None = None) -> list[ArtifactRef]:
        query = sa.select(artifacts.c.path, artifacts.c.digest, artifacts.c.size).where(
            artifacts.c.owner_type == owner_type, artifacts.c.owner_id == owner_id
        )
        if prefix:
            base = prefix.rstrip("/")
            query = query.where(
                (artifacts.c.path == base) | artifacts.c.path.startswith(base + "/", autoescape=True)
            )
        with self._read() as conn:
            return [ArtifactRef(p, d, s) for p, d, s in conn.execute(query.order_by(artifacts.c.path))]

    def get_artifact(self, owner_type: str, owner_id: str, path: str) -> ArtifactRef:
        with self._read() as conn:
            row = conn.execute(
                sa.select(artifacts.c.path, artifacts.c.digest, artifacts.c.size).where(
                    artifacts.c.owner_type == owner_type,
                    artifacts.c.owner_id == owner_id,
                    artifacts.c.path == path,
                )
            ).first()
        if row is None:
            raise NotFound(f"{owner_type} {owner_id!r} has no artifact {path!r}")
        return ArtifactRef(row.path, row.digest, row.size)

    # -- lifecycle -----------------------------------------------------------------------------
    def purge_deleted(self, deleted_before_ms: int | None = None) -> tuple[GcReport, set[str]]:
        def old_enough(column: sa.ColumnElement[Any]) -> sa.ColumnElement[bool]:
            # deleted before deletion times were recorded counts as old
            return sa.true() if deleted_before_ms is None else column.is_(None) | (column < deleted_before_ms)

        with self._write() as conn:
            dead_experiments = [
                r[0]
                for r in conn.execute(
                    sa.select(experiments.c.id).where(
                        experiments.c.lifecycle == "deleted", old_enough(experiments.c.deleted_ms)
                    )
                )
            ]
            dead_runs = [
                r[0]
                for r in conn.execute(
                    sa.select(runs.c.id).where(
                        ((runs.c.lifecycle == "deleted") & old_enough(runs.c.deleted_ms))
                        | runs.c.experiment_id.in_(dead_experiments)
                    )
                )
            ]
            freed: set[str] = set()
            for start in range(0, len(dead_runs), _ID_CHUNK):
                chunk = dead_runs[start : start + _ID_CHUNK]
                owned = (artifacts.c.owner_type == "run") & artifacts.c.owner_id.in_(chunk)
                freed.update(r[0] for r in conn.execute(sa.select(artifacts.c.digest).where(owned)))
                conn.execute(artifacts.delete().where(owned))
                # children are not deleted with their parent; they lose the link
                conn.execute(runs.update().where(runs.c.parent_id.in_(chunk)).values(parent_id=None))
                for table in (metrics, latest_metrics, params, run_tags, dataset_inputs):
                    conn.execute(table.delete().where(table.c.run_id.in_(chunk)))
                conn.execute(runs.delete().where(runs.c.id.in_(chunk)))
            if dead_experiments:
                conn.execute(
                    experiment_tags.delete().where(experiment_tags.c.experiment_id.in_(dead_experiments))
                )
                conn.execute(experiments.delete().where(experiments.c.id.in_(dead_experiments)))
        report = GcReport(
            runs=len(dead_runs),
            experiments=len(dead_experiments),
            details={"run_ids": dead_runs, "experiment_ids": dead_experiments},
        )
        return report, freed

    def referenced_digests(self) -> set[str]:
        with self._read() as conn:
            return {r[0] for r in conn.execute(sa.select(artifacts.c.digest).distinct())}


__all__ = ["OrderKey", "TrackingSql"]


def dataset_input_rows(run_id: str, datasets: Sequence[DatasetInput]) -> list[dict[str, Any]]:
    """``dataset_inputs`` rows for a run's dataset fingerprints."""
    return [
        {
            "run_id": run_id,
            "name": d.name,
            "digest": d.digest,
            "context": d.context,
            "num_rows": d.n_rows,
            "schema_json": json.dumps(d.schema),
            "source": d.source,
        }
        for d in datasets
    ]


#: from this many points on, PostgreSQL gets metric history by COPY (3-4x faster than an executemany)
COPY_MIN_ROWS = 64
_HISTORY_COLUMNS = ("run_id", "key", "value", "step", "timestamp_ms")


def _copy_history(conn: Connection, history: list[dict[str, Any]]) -> None:
    """Append metric history rows with COPY, inside ``conn``'s transaction (psycopg 3)."""
    driver = conn.connection.driver_connection
    assert driver is not None
    columns = ", ".join(_HISTORY_COLUMNS)
    with driver.cursor() as cursor, cursor.copy(f"COPY {metrics.name} ({columns}) FROM STDIN") as load:
        for row in history:
            load.write_row([row[c] for c in _HISTORY_COLUMNS])
