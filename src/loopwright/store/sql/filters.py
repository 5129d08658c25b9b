"""Parsed filter clauses (:mod:`loopwright.store.search`) as SQLAlchemy conditions."""

from __future__ import annotations

from typing import Any

from loopwright.errors import InvalidInput
from loopwright.store.search import Clause


def condition(column: Any, clause: Clause) -> Any:
    """The SQL condition ``column OP value`` for one parsed filter clause."""
    value = clause.value
    op = clause.op
    if op == "=":
        return column == value
    if op == "!=":
        return column != value
    if op == "<":
        return column < value
    if op == "<=":
        return column <= value
    if op == ">":
        return column > value
    if op == ">=":
        return column >= value
    if op == "LIKE":
        return column.like(value)
    if op == "ILIKE":
        return column.ilike(value)
    if op == "IN":
        return column.in_(list(value))  # type: ignore[arg-type]
    if op == "NOT IN":
        return column.not_in(list(value))  # type: ignore[arg-type]
    raise InvalidInput(f"unsupported operator {op!r}")
