"""LLM traces in SQL: one ``traces`` row per tree (what search filters on), its spans beside it."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from loopwright.errors import InvalidInput, NotFound
from loopwright.store.entities import SPAN_KINDS, Trace, TraceSpan
from loopwright.store.search import TRACES, OrderKey, parse_filter, parse_order_by
from loopwright.store.sql.base import SqlBase
from loopwright.store.sql.query import SearchEntity, search_query
from loopwright.store.sql.tables import spans as span_table
from loopwright.store.sql.tables import traces as trace_table

_HEX = frozenset("0123456789abcdef")


def _hex_id(value: object, length: int, what: str) -> str:
    if not isinstance(value, str) or len(value) != length or not set(value) <= _HEX:
        raise InvalidInput(f"a {what} is {length} lower-case hex digits, got {value!r}")
    return value


def _trace_row(trace: Trace) -> dict[str, Any]:
    return {
        "id": _hex_id(trace.id, 32, "trace id"),
        "name": trace.name[:256],
        "status": trace.status,
        "start_us": trace.start_us,
        "end_us": trace.end_us,
        "run_id": trace.run_id,
        "prompt": trace.prompt,
        "model": trace.model,
        "input_tokens": trace.input_tokens,
        "output_tokens": trace.output_tokens,
        "cost": trace.cost,
        "attributes": json.dumps(trace.attributes, default=str),
    }


def _span_row(span: TraceSpan) -> dict[str, Any]:
    if span.kind not in SPAN_KINDS:
        raise InvalidInput(f"unknown span kind {span.kind!r}: use one of {', '.join(SPAN_KINDS)}")
    return {
        "trace_id": _hex_id(span.trace_id, 32, "trace id"),
        "span_id": _hex_id(span.span_id, 16, "span id"),
        "parent_id": None if span.parent_id is None else _hex_id(span.parent_id, 16, "span id"),
        "name": span.name[:256],
        "kind": span.kind,
        "status": span.status,
        "start_us": span.start_us,
        "end_us": span.end_us,
        "attributes": json.dumps(span.attributes, default=str),
        "events": json.dumps(span.events, default=str) if span.events else None,
        "error": span.error,
    }


class TracesSql(SqlBase):
    def log_traces(self, traces: Sequence[Trace], spans: Sequence[TraceSpan]) -> None:
        trace_rows = [_trace_row(t) for t in traces]
        span_rows = [_span_row(s) for s in spans]
        if not trace_rows and not span_rows:
            return
        with self._write() as conn:
            if trace_rows:
                insert = self._insert(trace_table)
                columns = {c: insert.excluded[c] for c in trace_rows[0] if c != "id"}
                conn.execute(insert.on_conflict_do_update(index_elements=["id"], set_=columns), trace_rows)
            if span_rows:
                conn.execute(
                    self._insert(span_table).on_conflict_do_nothing(index_elements=["trace_id", "span_id"]),
                    span_rows,
                )

    def get_trace(self, trace_id: str) -> Trace:
        with self._read() as conn:
            row = conn.execute(sa.select(trace_table).where(trace_table.c.id == trace_id)).first()
            if row is None:
                raise NotFound(f"trace {trace_id!r} not found")
            children = conn.execute(
                sa.select(span_table)
                .where(span_table.c.trace_id == trace_id)
                .order_by(span_table.c.start_us, span_table.c.span_id)
            ).all()
        return _trace(row, [_span(s) for s in children])

    def search_traces(
        self, filter: str | None = None, order_by: Sequence[str] | None = None, max_results: int = 100
    ) -> list[Trace]:
        clauses = parse_filter(filter, TRACES)
        orders = parse_order_by(order_by, TRACES) or [OrderKey("attribute", "start_time", True)]
        query = search_query(TRACE_SEARCH, sa.select(trace_table), clauses, orders, max_results)
        with self._read() as conn:
            return [_trace(row, []) for row in conn.execute(query).all()]


def _trace(row: Any, children: list[TraceSpan]) -> Trace:
    return Trace(
        id=row.id,
        name=row.name,
        status=row.status,
        start_us=row.start_us,
        end_us=row.end_us,
        run_id=row.run_id,
        prompt=row.prompt,
        model=row.model,
        input_tokens=row.input_tokens,
        output_tokens=row.output_tokens,
        cost=row.cost,
        attributes=json.loads(row.attributes),
        spans=children,
    )


def _span(row: Any) -> TraceSpan:
    return TraceSpan(
        trace_id=row.trace_id,
        span_id=row.span_id,
        parent_id=row.parent_id,
        name=row.name,
        kind=row.kind,
        status=row.status,
        start_us=row.start_us,
        end_us=row.end_us,
        attributes=json.loads(row.attributes),
        events=json.loads(row.events) if row.events else [],
        error=row.error,
    )


TRACE_SEARCH = SearchEntity(
    table=trace_table,
    columns={
        "name": trace_table.c.name,
        "status": trace_table.c.status,
        "run_id": trace_table.c.run_id,
        "prompt": trace_table.c.prompt,
        "model": trace_table.c.model,
        "start_time": trace_table.c.start_us / 1000,
        "duration_ms": (trace_table.c.end_us - trace_table.c.start_us) / 1000.0,
        "input_tokens": trace_table.c.input_tokens,
        "output_tokens": trace_table.c.output_tokens,
        "cost": trace_table.c.cost,
    },
    joins={},
    tiebreak=(trace_table.c.start_us.desc(), trace_table.c.id),
    noun="traces",
)

__all__ = ["TracesSql"]
