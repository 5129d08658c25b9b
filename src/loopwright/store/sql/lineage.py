"""Lineage edges in SQL: a generic ``src → dst`` graph every area adds to.

Node types in use: ``run`` (run id), ``model_version`` (``NAME/VERSION``); pipelines add
``dataset`` and ``step``, serving adds deployments. An edge is unique per
``(src_type, src_id, dst_type, dst_id, relation)``; adding it again keeps the first.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from loopwright.errors import InvalidInput
from loopwright.store.entities import LineageDirection, LineageEdge, ms_to_datetime, now_ms
from loopwright.store.sql.base import SqlBase
from loopwright.store.sql.tables import lineage_edges

_LIMITS = (("src_type", 32), ("src_id", 256), ("dst_type", 32), ("dst_id", 256), ("relation", 64))


class LineageSql(SqlBase):
    """Lineage half of :class:`~loopwright.store.sql.SqlStore`."""

    def add_lineage_edges(self, edges: Sequence[LineageEdge]) -> None:
        if not edges:
            return
        stamp = now_ms()
        rows = []
        for edge in edges:
            if not isinstance(edge, LineageEdge):
                raise InvalidInput(f"lineage edges are LineageEdge objects, got {type(edge).__name__}")
            for field, limit in _LIMITS:
                value = getattr(edge, field)
                if not isinstance(value, str) or not 0 < len(value) <= limit:
                    raise InvalidInput(
                        f"lineage edge {field} must be a string of 1-{limit} characters, got {value!r}"
                    )
            rows.append(
                {
                    "src_type": edge.src_type,
                    "src_id": edge.src_id,
                    "dst_type": edge.dst_type,
                    "dst_id": edge.dst_id,
                    "relation": edge.relation,
                    "created_ms": (
                        stamp if edge.created_at is None else int(edge.created_at.timestamp() * 1000)
                    ),
                }
            )
        with self._write() as conn:
            conn.execute(self._insert(lineage_edges).on_conflict_do_nothing(), rows)

    def get_lineage_edges(
        self, node_type: str, node_id: str, direction: LineageDirection = "upstream"
    ) -> list[LineageEdge]:
        e = lineage_edges
        into = (e.c.dst_type == node_type) & (e.c.dst_id == node_id)
        out_of = (e.c.src_type == node_type) & (e.c.src_id == node_id)
        where = {"upstream": into, "downstream": out_of, "both": into | out_of}.get(direction)
        if where is None:
            raise InvalidInput(f"direction must be 'upstream', 'downstream' or 'both', got {direction!r}")
        with self._read() as conn:
            rows = conn.execute(sa.select(e).where(where).order_by(e.c.id)).all()
        return [
            LineageEdge(
                src_type=r.src_type,
                src_id=r.src_id,
                dst_type=r.dst_type,
                dst_id=r.dst_id,
                relation=r.relation,
                created_at=ms_to_datetime(r.created_ms),
            )
            for r in rows
        ]


__all__ = ["LineageSql"]
