"""Live-monitoring windows, alert state and alert events in SQL."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from loopwright.store.entities import (
    AlertDelivery,
    AlertEvent,
    AlertState,
    FeedbackLabels,
    MonitorWindow,
    now_ms,
)
from loopwright.store.sql.base import SqlBase
from loopwright.store.sql.tables import (
    monitor_alert_state,
    monitor_alerts,
    monitor_windows,
    prediction_feedback,
    prediction_log_files,
)

_JSON_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS


def _dumps(value: Any) -> str:
    return orjson.dumps(value, option=_JSON_OPTIONS, default=str).decode()


class MonitoringSql(SqlBase):
    """Monitoring half of :class:`~loopwright.store.sql.SqlStore`."""

    def list_endpoints(self) -> list[str]:
        # an endpoint exists in the store only through what it left: logged predictions or windows
        query = sa.union(sa.select(monitor_windows.c.endpoint), sa.select(prediction_log_files.c.endpoint))
        with self._read() as conn:
            return sorted(r[0] for r in conn.execute(query))

    def put_monitor_windows(self, windows: Sequence[MonitorWindow]) -> None:
        if not windows:
            return
        stamp = now_ms()
        rows = [
            {
                "endpoint": w.endpoint,
                "start_ms": w.start_ms,
                "end_ms": w.end_ms,
                "status": w.status,
                "closed": w.closed,
                "model_versions": _dumps(list(w.model_versions)),
                "rows": w.n_rows,
                "labelled": w.labelled,
                "drifted": w.drifted,
                "drift": _dumps(w.drift),
                "metrics": _dumps(w.metrics),
                "estimated": _dumps(w.estimated),
                "alerts": _dumps(list(w.alerts)),
                "updated_ms": w.updated_ms or stamp,
            }
            for w in windows
        ]
        statement = self._insert(monitor_windows)
        keys = {"endpoint", "start_ms", "end_ms"}
        statement = statement.on_conflict_do_update(
            index_elements=sorted(keys),
            set_={c.name: statement.excluded[c.name] for c in monitor_windows.columns if c.name not in keys},
        )
        with self._write() as conn:
            conn.execute(statement, rows)

    def list_monitor_windows(
        self,
        endpoint: str,
        since_ms: int | None = None,
        until_ms: int | None = None,
        width_ms: int | None = None,
    ) -> list[MonitorWindow]:
        t = monitor_windows
        query = sa.select(t).where(t.c.endpoint == endpoint)
        if since_ms is not None:
            query = query.where(t.c.end_ms > since_ms)
        if until_ms is not None:
            query = query.where(t.c.start_ms < until_ms)
        if width_ms is not None:
            query = query.where(t.c.end_ms - t.c.start_ms == width_ms)
        with self._read() as conn:
            rows = conn.execute(query.order_by(t.c.start_ms, t.c.end_ms)).mappings().all()
        return [
            MonitorWindow(
                endpoint=r["endpoint"],
                start_ms=r["start_ms"],
                end_ms=r["end_ms"],
                status=r["status"],
                closed=bool(r["closed"]),
                model_versions=orjson.loads(r["model_versions"]),
                n_rows=r["rows"],
                labelled=r["labelled"],
                drifted=None if r["drifted"] is None else bool(r["drifted"]),
                drift=orjson.loads(r["drift"]),
                metrics=orjson.loads(r["metrics"]),
                estimated=orjson.loads(r["estimated"]),
                alerts=orjson.loads(r["alerts"]),
                updated_ms=r["updated_ms"],
            )
            for r in rows
        ]

    def get_feedback_labels(self, endpoint: str, since_ms: int | None = None) -> FeedbackLabels:
        t = prediction_feedback
        ids: Any
        # columns, not rows: the database folds each column into one JSON array (every aggregate
        # of one SELECT walks the same rows in the same order), so 750k labels cost four JSON
        # decodes instead of 750k row objects -- 1.4 s of a monitor pass before
        if self._is_sqlite:
            array, ids = sa.func.json_group_array, sa.func.json_group_array(t.c.request_id)
            labels = sa.func.group_concat(t.c.label, ",")
        else:
            array, ids = sa.func.json_agg, sa.cast(sa.func.json_agg(t.c.request_id), sa.Text)
            labels = sa.func.string_agg(t.c.label, ",")
        query = sa.select(
            sa.func.count(),
            ids,
            sa.cast(array(t.c.row), sa.Text),
            labels,
            sa.cast(array(t.c.timestamp_ms), sa.Text),
        ).where(t.c.endpoint == endpoint)
        if since_ms is not None:
            query = query.where(t.c.timestamp_ms >= since_ms)
        with self._read() as conn:
            count, request_ids, numbers, texts, stamps = conn.execute(query).one()
        if not count:
            return FeedbackLabels([], [], [], [])
        return FeedbackLabels(
            orjson.loads(request_ids),
            orjson.loads(numbers),
            orjson.loads("[" + texts + "]"),  # the labels are JSON text already
            orjson.loads(stamps),
        )

    def get_alert_states(self, endpoint: str) -> dict[str, AlertState]:
        t = monitor_alert_state
        with self._read() as conn:
            rows = conn.execute(sa.select(t).where(t.c.endpoint == endpoint)).mappings().all()
        return {
            r["rule"]: AlertState(
                r["endpoint"],
                r["rule"],
                bool(r["firing"]),
                r["since_ms"],
                r["last_end_ms"],
                r["value"],
                r["updated_ms"],
            )
            for r in rows
        }

    def update_alerts(self, states: Sequence[AlertState], events: Sequence[AlertEvent]) -> list[AlertEvent]:
        stamp = now_ms()
        out = []
        with self._write() as conn:
            if states:
                statement = self._insert(monitor_alert_state)
                statement = statement.on_conflict_do_update(
                    index_elements=["endpoint", "rule"],
                    set_={
                        c: statement.excluded[c]
                        for c in ("firing", "since_ms", "last_end_ms", "value", "updated_ms")
                    },
                )
                conn.execute(
                    statement,
                    [
                        {
                            "endpoint": s.endpoint,
                            "rule": s.rule,
                            "firing": s.firing,
                            "since_ms": s.since_ms,
                            "last_end_ms": s.last_end_ms,
                            "value": s.value,
                            "updated_ms": stamp,
                        }
                        for s in states
                    ],
                )
            for event in events:
                out.append(self._insert_event(conn, event, stamp))
        return out

    def _insert_event(self, conn: Connection, e: AlertEvent, stamp: int) -> AlertEvent:
        created = e.created_ms or stamp
        event_id = conn.execute(
            monitor_alerts.insert()
            .values(
                endpoint=e.endpoint,
                rule=e.rule,
                status=e.status,
                start_ms=e.start_ms,
                end_ms=e.end_ms,
                message=e.message,
                payload=_dumps(e.payload),
                delivery=e.delivery,
                attempts=e.attempts,
                created_ms=created,
                delivered_ms=e.delivered_ms,
            )
            .returning(monitor_alerts.c.id)
        ).scalar_one()
        return AlertEvent(
            e.endpoint,
            e.rule,
            e.status,
            e.start_ms,
            e.end_ms,
            e.message,
            e.payload,
            e.delivery,
            e.attempts,
            int(event_id),
            created,
            e.delivered_ms,
        )

    def list_alert_events(
        self, endpoint: str, delivery: AlertDelivery | None = None, since_ms: int | None = None
    ) -> list[AlertEvent]:
        t = monitor_alerts
        query = sa.select(t).where(t.c.endpoint == endpoint)
        if delivery is not None:
            query = query.where(t.c.delivery == delivery)
        if since_ms is not None:
            query = query.where(t.c.created_ms >= since_ms)
        with self._read() as conn:
            rows = conn.execute(query.order_by(t.c.id)).mappings().all()
        return [
            AlertEvent(
                r["endpoint"],
                r["rule"],
                r["status"],
                r["start_ms"],
                r["end_ms"],
                r["message"],
                orjson.loads(r["payload"]),
                r["delivery"],
                r["attempts"],
                int(r["id"]),
                r["created_ms"],
                r["delivered_ms"],
            )
            for r in rows
        ]

    def set_alert_delivery(
        self, event_id: int, delivery: AlertDelivery, attempts: int, delivered_ms: int | None = None
    ) -> None:
        t = monitor_alerts
        with self._write() as conn:
            conn.execute(
                t.update()
                .where(t.c.id == event_id)
                .values(delivery=delivery, attempts=attempts, delivered_ms=delivered_ms)
            )
