"""The serving prediction log's file index and ground-truth feedback in SQL."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
import sqlalchemy as sa

from loopwright.store.entities import FeedbackRecord, PredictionLogFile, now_ms
from loopwright.store.sql.base import SqlBase
from loopwright.store.sql.tables import artifacts, prediction_feedback, prediction_log_files

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
        now = now_ms()
        with self._write() as conn:
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
