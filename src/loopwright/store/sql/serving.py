"""The serving prediction log's file index and ground-truth feedback in SQL."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
import sqlalchemy as sa

from loopwright.errors import Conflict
from loopwright.store.entities import FeedbackRecord, PredictionLogFile, now_ms
from loopwright.store.sql.base import SqlBase
from loopwright.store.sql.tables import (
    artifacts,
    lineage_edges,
    prediction_feedback,
    prediction_log_files,
    step_io,
)

LOG_OWNER = "prediction_log"  # artifacts.owner_type of prediction-log files (owner_id = file id)

_JSON_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS


def _dumps(value: Any) -> str:
    return orjson.dumps(value, option=_JSON_OPTIONS, default=str).decode()


def _time_range(column: sa.ColumnElement[Any], since_ms: int | None, until_ms: int | None) -> list[Any]:
    clauses = []
    if since_ms is not None:
        clauses.append(column >= since_ms)
    if until_ms is not None:
        clauses.append(column < until_ms)
    return clauses


class ServingSql(SqlBase):
    """Prediction-log index and feedback half of :class:`~loopwright.store.sql.SqlStore`."""

    def add_prediction_log_file(self, file: PredictionLogFile) -> None:
        with self._write() as conn:
            self._insert_log_file(conn, file)

    def _insert_log_file(self, conn: sa.Connection, file: PredictionLogFile) -> None:
        now = now_ms()
        conn.execute(
            prediction_log_files.insert().values(
                id=file.id,
                endpoint=file.endpoint,
                model_name=file.model_name,
                model_version=file.model_version,
                shadow=file.shadow,
                min_ts_ms=file.min_ts_ms,
                max_ts_ms=file.max_ts_ms,
                rows=file.n_rows,
                path=file.path,
                digest=file.digest,
                created_ms=now,
            )
        )
        conn.execute(
            artifacts.insert().values(
                owner_type=LOG_OWNER,
                owner_id=file.id,
                path=file.path,
                digest=file.digest,
                size=file.size,
                created_ms=now,
            )
        )

    def list_prediction_log_files(
        self,
        endpoint: str,
        since_ms: int | None = None,
        until_ms: int | None = None,
        include_shadow: bool = False,
    ) -> list[PredictionLogFile]:
        t = prediction_log_files
        query = sa.select(
            t.c.id,
            t.c.endpoint,
            t.c.model_name,
            t.c.model_version,
            t.c.shadow,
            t.c.min_ts_ms,
            t.c.max_ts_ms,
            t.c.rows,
            t.c.path,
            t.c.digest,
        ).where(t.c.endpoint == endpoint)
        if since_ms is not None:
            query = query.where(t.c.max_ts_ms >= since_ms)
        if until_ms is not None:
            query = query.where(t.c.min_ts_ms < until_ms)
        if not include_shadow:
            query = query.where(t.c.shadow == sa.false())
        with self._read() as conn:
            rows = conn.execute(query.order_by(t.c.min_ts_ms, t.c.id)).all()
        return [
            PredictionLogFile(r[0], r[1], r[2], r[3], bool(r[4]), r[5], r[6], r[7], r[8], r[9]) for r in rows
        ]

    def replace_prediction_log_files(
        self, endpoint: str, remove_ids: Sequence[str], file: PredictionLogFile | None = None
    ) -> int:
        ids = list(dict.fromkeys(remove_ids))
        if file is not None and file.endpoint != endpoint:
            raise Conflict(f"file {file.id!r} is of endpoint {file.endpoint!r}, not {endpoint!r}")
        t = prediction_log_files
        with self._write() as conn:
            removed = 0
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                removed += conn.execute(
                    t.delete().where(t.c.endpoint == endpoint, t.c.id.in_(chunk))
                ).rowcount
                conn.execute(
                    artifacts.delete().where(
                        artifacts.c.owner_type == LOG_OWNER, artifacts.c.owner_id.in_(chunk)
                    )
                )
            if removed != len(ids):  # another gc got there first: its result stands, not half of ours
                raise Conflict(
                    f"{len(ids) - removed} of {len(ids)} prediction-log files of {endpoint!r} are gone already"
                )
            if file is not None:
                self._insert_log_file(conn, file)
        return removed

    def digest_holders(self, digests: Sequence[str]) -> dict[str, list[str]]:
        wanted = list(dict.fromkeys(digests))
        holders: dict[str, set[str]] = {}
        with self._read() as conn:
            for start in range(0, len(wanted), 500):
                chunk = wanted[start : start + 500]
                owned = sa.select(artifacts.c.digest, artifacts.c.owner_type).where(
                    artifacts.c.digest.in_(chunk), artifacts.c.owner_type != LOG_OWNER
                )
                for digest, owner in conn.execute(owned):
                    holders.setdefault(digest, set()).add(owner)
                for (digest,) in conn.execute(sa.select(step_io.c.digest).where(step_io.c.digest.in_(chunk))):
                    holders.setdefault(digest, set()).add("pipeline_step")
                named = {f"{kind}:{d}": d for d in chunk for kind in ("artifact", "file")} | {
                    d: d for d in chunk
                }
                e = lineage_edges
                ends = sa.union(
                    sa.select(e.c.src_id.label("node")).where(e.c.src_id.in_(list(named))),
                    sa.select(e.c.dst_id.label("node")).where(e.c.dst_id.in_(list(named))),
                )
                for (node,) in conn.execute(ends):
                    holders.setdefault(named[node], set()).add("lineage")
        return {d: sorted(h) for d, h in holders.items()}

    def log_feedback(self, records: Sequence[FeedbackRecord]) -> None:
        if not records:
            return
        rows = [
            {
                "endpoint": r.endpoint,
                "request_id": r.request_id,
                "row": r.row,
                "label": _dumps(r.label),
                "timestamp_ms": r.timestamp_ms,
            }
            for r in records
        ]
        statement = self._insert(prediction_feedback)
        statement = statement.on_conflict_do_update(
            index_elements=["endpoint", "request_id", "row"],
            set_={"label": statement.excluded.label, "timestamp_ms": statement.excluded.timestamp_ms},
        )
        with self._write() as conn:
            conn.execute(statement, rows)

    def list_feedback(
        self, endpoint: str, since_ms: int | None = None, until_ms: int | None = None
    ) -> list[FeedbackRecord]:
        t = prediction_feedback
        query = (
            sa.select(t.c.endpoint, t.c.request_id, t.c.row, t.c.label, t.c.timestamp_ms)
            .where(t.c.endpoint == endpoint, *_time_range(t.c.timestamp_ms, since_ms, until_ms))
            .order_by(t.c.timestamp_ms, t.c.request_id, t.c.row)
        )
        with self._read() as conn:
            rows = conn.execute(query).all()
        return [FeedbackRecord(r[0], r[1], r[2], orjson.loads(r[3]), r[4]) for r in rows]
