"""The loop controller's state per model and its transitions in SQL."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, cast

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from loopwright.errors import Conflict, InvalidInput
from loopwright.names import validate_name
from loopwright.store.entities import (
    LOOP_STATES,
    LoopState,
    LoopStateName,
    LoopTransition,
    now_ms,
)
from loopwright.store.sql.base import SqlBase
from loopwright.store.sql.tables import loop_states, loop_transitions


def _dumps(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS, default=str).decode()


def _state(row: Any) -> LoopState:
    return LoopState(
        model=row["model"],
        state=cast(LoopStateName, row["state"]),
        cycle=row["cycle"],
        version=row["version"],
        reason=row["reason"],
        since_ms=row["since_ms"],
        watermark_ms=row["watermark_ms"],
        details=orjson.loads(row["details"]),
        updated_ms=row["updated_ms"],
        paused_ms=row["paused_ms"],
        paused_by=row["paused_by"],
        checked_ms=row["checked_ms"],
    )


def _clock(ms: int | None) -> str:
    return "" if ms is None else datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


class LoopSql(SqlBase):
    """Loop half of :class:`~loopwright.store.sql.SqlStore`."""

    def get_loop_state(self, model: str) -> LoopState:
        validate_name(model, "model name")
        with self._read() as conn:
            row = conn.execute(sa.select(loop_states).where(loop_states.c.model == model)).mappings().first()
        return _state(row) if row is not None else LoopState(model, "idle")

    def list_loop_states(self) -> list[LoopState]:
        with self._read() as conn:
            rows = conn.execute(sa.select(loop_states).order_by(loop_states.c.model)).mappings().all()
        return [_state(r) for r in rows]

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
        validate_name(model, "model name")
        if to_state not in LOOP_STATES:
            raise InvalidInput(f"unknown loop state {to_state!r}; states: {', '.join(LOOP_STATES)}")
        stamp = time_ms if time_ms is not None else now_ms()
        with self._write() as conn:
            current = self._lock_state(conn, model, stamp)
            if current.state not in expect:
                raise Conflict(
                    f"the loop of {model!r} is {current.state} (cycle {current.cycle}), not "
                    f"{' or '.join(expect)}: another controller moved it"
                )
            stale = sorted(k for k, v in (expect_details or {}).items() if current.details.get(k) != v)
            if stale:
                raise Conflict(
                    f"the loop of {model!r} changed its {', '.join(stale)} (cycle {current.cycle}): "
                    "another controller took it over"
                )
            details_json = _dumps(dict(details or {}))
            values = {
                "state": to_state,
                "cycle": cycle,
                "version": version,
                "reason": reason,
                "since_ms": stamp,
                "watermark_ms": watermark_ms,
                "details": details_json,
                "updated_ms": now_ms(),
            }
            conn.execute(loop_states.update().where(loop_states.c.model == model).values(**values))
            self._append(conn, current, to_state, cycle, version, reason, stamp, details_json, actor)
        return replace(
            current,
            state=to_state,
            cycle=cycle,
            version=version,
            reason=reason,
            since_ms=stamp,
            watermark_ms=watermark_ms,
            details=dict(details or {}),
            updated_ms=cast(int, values["updated_ms"]),
        )

    def set_loop_paused(
        self, model: str, paused: bool, *, actor: str, reason: str, time_ms: int | None = None
    ) -> LoopState:
        validate_name(model, "model name")
        stamp = time_ms if time_ms is not None else now_ms()
        with self._write() as conn:
            current = self._lock_state(conn, model, stamp)
            if paused and current.paused:
                raise Conflict(
                    f"the loop of {model!r} is already paused (by {current.paused_by} at "
                    f"{_clock(current.paused_ms)})"
                )
            if not paused and not current.paused:
                raise Conflict(f"the loop of {model!r} is not paused")
            paused_ms, paused_by = (stamp, actor) if paused else (None, None)
            conn.execute(
                loop_states.update()
                .where(loop_states.c.model == model)
                .values(paused_ms=paused_ms, paused_by=paused_by)
            )
            details = _dumps({"paused": paused})
            self._append(
                conn, current, current.state, current.cycle, current.version, reason, stamp, details, actor
            )
        return replace(current, paused_ms=paused_ms, paused_by=paused_by)

    def mark_loop_checked(self, model: str, time_ms: int) -> None:
        validate_name(model, "model name")
        with self._write() as conn:
            current = self._lock_state(conn, model, time_ms)
            if current.checked_ms is None or time_ms > current.checked_ms:
                conn.execute(
                    loop_states.update().where(loop_states.c.model == model).values(checked_ms=time_ms)
                )

    @staticmethod
    def _append(
        conn: Connection,
        current: LoopState,
        to_state: str,
        cycle: int,
        version: int | None,
        reason: str,
        stamp: int,
        details: str,
        actor: str | None,
    ) -> None:
        conn.execute(
            loop_transitions.insert().values(
                model=current.model,
                cycle=cycle,
                from_state=current.state,
                to_state=to_state,
                reason=reason,
                version=version,
                time_ms=stamp,
                details=details,
                actor=actor,
            )
        )

    def _lock_state(self, conn: Connection, model: str, stamp: int) -> LoopState:
        """The model's state row, created idle on first use and locked until the transaction ends.

        Inserting first (doing nothing if it exists) gives PostgreSQL a row to lock even for a
        model's first transition, so two controllers starting at once queue instead of both
        believing the loop idle.
        """
        idle = {
            "model": model,
            "state": "idle",
            "cycle": 0,
            "version": None,
            "reason": "",
            "since_ms": stamp,
            "watermark_ms": None,
            "details": "{}",
            "updated_ms": stamp,
        }
        conn.execute(self._insert(loop_states).values(**idle).on_conflict_do_nothing())
        row = (
            conn.execute(sa.select(loop_states).where(loop_states.c.model == model).with_for_update())
            .mappings()
            .one()
        )
        return _state(row)

    def list_loop_history(
        self, model: str, cycle: int | None = None, max_results: int | None = None
    ) -> list[LoopTransition]:
        t = loop_transitions
        # the next transition's time over the model's whole history, before the cycle filter cuts it
        moves = (
            sa.select(t, sa.func.lead(t.c.time_ms).over(order_by=t.c.id).label("next_ms"))
            .where(t.c.model == model)
            .subquery()
        )
        query = sa.select(moves)
        if cycle is not None:
            query = query.where(moves.c.cycle == cycle)
        query = query.order_by(moves.c.id.desc())
        if max_results is not None:
            query = query.limit(max_results)
        with self._read() as conn:
            rows = conn.execute(query).mappings().all()
        return [
            LoopTransition(
                id=int(r["id"]),
                model=r["model"],
                cycle=r["cycle"],
                from_state=r["from_state"],
                to_state=r["to_state"],
                reason=r["reason"],
                version=r["version"],
                time_ms=r["time_ms"],
                details=orjson.loads(r["details"]),
                duration_ms=None if r["next_ms"] is None else r["next_ms"] - r["time_ms"],
                actor=r["actor"],
            )
            for r in reversed(rows)
        ]
