"""One search query builder: parsed filter → joins → conditions → order → page.

Runs, registered models and model versions are searched the same way; what differs is only the
entity's description (:class:`SearchEntity`): its attribute columns, the key/value tables a
``metrics.``/``params.``/``tags.`` key joins, the attributes with a condition of their own
(a version's ``alias``) and the order that breaks ties. Keeping one builder keeps the three
searches from drifting apart (they once disagreed on whether ``max_results=True`` is a count).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.visitors import InternalTraversal

from loopwright.errors import InvalidInput
from loopwright.store.search import Clause, OrderKey
from loopwright.store.sql.filters import condition


@dataclass(frozen=True)
class SearchEntity:
    """What a search needs to know about one entity's tables.

    ``columns`` maps attribute keys to columns; ``joins`` maps a key kind (``metric``, ``param``,
    ``tag``) to its key/value table and the join condition ``on(alias, key)``; ``conditions``
    maps attributes that are not a column (a version's ``alias``) to the condition of a clause
    (such an attribute cannot order); ``tiebreak`` ends every ordering so pages are stable.
    """

    table: Any
    columns: Mapping[str, Any]
    joins: Mapping[str, tuple[Any, Callable[[Any, str], Any]]]
    tiebreak: Sequence[Any]
    conditions: Mapping[str, Callable[[Clause], Any]] = field(default_factory=dict)
    noun: str = "rows"
    #: key kinds whose ``value`` is indexed by its first characters only (``prefix(column)``): an
    #: equality filter on them adds ``prefix(column) = value[:chars]`` so that index can serve it
    prefixed: Mapping[str, tuple[Callable[[Any], Any], int]] = field(default_factory=dict)
    #: the key/value tables' column naming the entity (``alias.c.run_id``): with it, a filter on a key
    #: within searched experiments is an ``id IN (ids from the index)`` semi-join (:func:`_semi_join`)
    member: Callable[[Any], Any] | None = None


def check_max_results(max_results: object) -> int:
    """Return ``max_results`` if it is a count (a non-negative int, not a bool), else raise InvalidInput.

    >>> check_max_results(10)
    10
    >>> check_max_results(True)
    Traceback (most recent call last):
    ...
    loopwright.errors.InvalidInput: max_results must be a non-negative integer, got True
    """
    if isinstance(max_results, bool) or not isinstance(max_results, int) or max_results < 0:
        raise InvalidInput(f"max_results must be a non-negative integer, got {max_results!r}")
    return max_results


def check_offset(offset: object) -> int:
    """Return ``offset`` if it is a non-negative int (not a bool), else raise InvalidInput."""
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise InvalidInput(f"offset must be a non-negative integer, got {offset!r}")
    return offset


def search_query(
    entity: SearchEntity,
    query: Any,
    clauses: Sequence[Clause],
    orders: Sequence[OrderKey],
    max_results: object,
    offset: object = 0,
    after_id: str | None = None,
) -> Any:
    """``query`` (a ``SELECT`` of ``entity.table``, maybe already narrowed) filtered, ordered and paged.

    A filter key joins its key/value table (inner: the key must exist); an order key joins it
    outer (rows without the key sort last). A key used by both shares one join. ``after_id`` pages by
    keyset: only rows after that row (by ``entity.table.c.id``) in this ordering, each order key's value
    for it read by an uncorrelated subquery (so the database computes it once and walks its index).
    """
    limit = check_max_results(max_results)
    start = check_offset(offset)
    query = _build(entity, query, clauses, orders, after_id, None, None).limit(limit)
    return query.offset(start) if start else query


def search_parts(
    entity: SearchEntity,
    query: Any,
    clauses: Sequence[Clause],
    orders: Sequence[OrderKey],
    max_results: object,
    offset: object = 0,
    after_id: str | None = None,
    scope: Callable[[Any], Any] | None = None,
    anchors: Sequence[Any] | None = None,
) -> list[Any]:
    """The search as one or two queries, each limited to ``max_results``: read them in turn until full.

    Ordered by a key/value (``metrics.acc``) first, one outer-joined query must read every row in
    scope before it can sort (rows without the key come last). Split instead: the rows that have
    the key, in its index order (the first page reads about a page of index entries), then those
    without it. ``scope(alias)`` narrows each key/value join (its ``experiment_id``), so the walk stays
    inside the searched experiments' index range. With an ``offset`` (deprecated paging) it stays
    one query. ``anchors`` (read first by :func:`anchor_query`) are ``after_id``'s values as
    parameters: the planner then knows where the page starts and seeks there (PostgreSQL plans a
    subquery's value as a third of the table and sorts them all).
    """
    limit = check_max_results(max_results)
    start = check_offset(offset)
    first = orders[0] if orders else None
    filtered = first is not None and any((c.kind, c.key) == (first.kind, first.key) for c in clauses)
    if first is None or first.kind == "attribute" or start or filtered:
        one = _build(entity, query, clauses, orders, after_id, scope, None, anchors).limit(limit)
        return [one.offset(start) if start else one]
    return [
        _build(entity, query, clauses, orders, after_id, scope, present, anchors).limit(limit)
        for present in (True, False)
    ]


def anchor_query(entity: SearchEntity, orders: Sequence[OrderKey], after_id: str) -> Any:
    """One row: ``after_id``'s value of each order key, then of each tiebreak column (NULL if none)."""
    values = [_anchor_value(entity, order, after_id) for order in orders]
    for tie in entity.tiebreak:
        column = _direction(tie)[0]
        values.append(
            sa.select(column).where(entity.table.c.id == after_id).correlate(None).scalar_subquery()
        )
    return sa.select(*values)


def _build(
    entity: SearchEntity,
    query: Any,
    clauses: Sequence[Clause],
    orders: Sequence[OrderKey],
    after_id: str | None,
    scope: Callable[[Any], Any] | None,
    first_present: bool | None,
    anchors: Sequence[Any] | None = None,
) -> Any:
    """The filtered, ordered (not limited) query; ``first_present`` keeps only the rows that have
    (True) or lack (False) a non-NULL value of the first order key."""
    joined: dict[tuple[str, str], Any] = {}

    def column_for(kind: str, key: str, outer: bool) -> Any:
        nonlocal query
        if kind == "attribute":
            if key in entity.conditions:
                raise InvalidInput(f"cannot order {entity.noun} by {key}")
            return entity.columns[key]
        slot = (kind, key)
        if slot not in joined:
            table, on = entity.joins[kind]
            alias = table.alias(f"{kind}_{len(joined)}")
            join_on = on(alias, key) if scope is None else sa.and_(on(alias, key), scope(alias))
            query = query.outerjoin(alias, join_on) if outer else query.join(alias, join_on)
            joined[slot] = alias
        return joined[slot].c.value

    ordered_keys = {(o.kind, o.key) for o in orders}
    probed: list[tuple[int, Clause]] = []
    for i, clause in enumerate(clauses):
        if clause.kind == "attribute" and clause.key in entity.conditions:
            query = query.where(entity.conditions[clause.key](clause))
        elif clause.kind == "attribute" or (clause.kind, clause.key) in ordered_keys:
            column = column_for(clause.kind, clause.key, False)  # may add a join to query
            query = query.where(*_conditions(entity, column, clause))
        else:  # a key only filtered on: a semi-join, after the order's joins exist (below)
            probed.append((i, clause))
    ordering: list[Any] = []
    keys: list[tuple[Any, Any, bool]] = []  # (column, the anchor's value of it, descending)
    for i, order in enumerate(orders):
        present = first_present if i == 0 else None
        column = column_for(order.kind, order.key, not present)
        if present is not None:
            query = query.where(column.is_not(None) if present else column.is_(None))
        term = column.desc() if order.descending else column.asc()
        # no NULLS LAST where there is no NULL: the index order then serves the ORDER BY as it is
        ordering.append(term if present or getattr(column, "nullable", True) is False else term.nulls_last())
        if after_id is not None:
            anchor = _anchor_value(entity, order, after_id) if anchors is None else _known(anchors[i], column)
            keys.append((column, anchor, order.descending))
            if present:  # a range the index seeks to (the anchor's page and on); NULL anchor: nothing
                query = query.where(column <= anchor if order.descending else column >= anchor)
    walked = joined.get((orders[0].kind, orders[0].key)) if orders and first_present else None
    for i, clause in probed:
        query = query.where(_semi_join(entity, clause, f"{clause.kind}_f{i}", scope, walked))
    if after_id is not None:
        for j, tie in enumerate(entity.tiebreak):
            column, descending = _direction(tie)
            if anchors is None:
                anchor = (
                    sa.select(column).where(entity.table.c.id == after_id).correlate(None).scalar_subquery()
                )
            else:
                anchor = _known(anchors[len(orders) + j], column)
            keys.append((column, anchor, descending))
        query = query.where(_after(keys))
    return query.order_by(*ordering, *entity.tiebreak)


def _semi_join(
    entity: SearchEntity, clause: Clause, name: str, scope: Callable[[Any], Any] | None, walked: Any
) -> Any:
    """The condition that a row has ``clause``'s key with a matching value, not a join.

    Scoped (one or more experiments) and with ``entity.member``: ``id IN (the ids the scoped
    ``(experiment_id, key, value…)`` index lists)``, read once into a set; the id compared is the
    walked order key's (``walked``, read from its index) when there is one. SQLite sees it as
    ``+id`` (:class:`Unindexed`): it keeps walking the order and checks each id in the set, rather
    than fetching the filter's rows one by one and sorting them all. PostgreSQL plans the semi-join
    either way. Otherwise ``EXISTS`` (a probe of the row's primary key per candidate).
    """
    table, on = entity.joins[clause.kind]
    alias = table.alias(name)
    if entity.member is not None and scope is not None:
        probe = entity.member(walked) if walked is not None else entity.table.c.id
        ids = sa.select(entity.member(alias)).where(
            alias.c.key == clause.key, scope(alias), *_conditions(entity, alias.c.value, clause)
        )
        return Unindexed(probe).in_(ids)
    where = on(alias, clause.key) if scope is None else sa.and_(on(alias, clause.key), scope(alias))
    return sa.exists().where(where, *_conditions(entity, alias.c.value, clause))


class Unindexed(sa.sql.expression.ColumnElement[Any]):
    """A column SQLite's planner may not drive a join from (it renders ``+column``, SQLite's way of
    saying so); the plain column on other databases.

    >>> from loopwright.store.sql.tables import runs
    >>> from sqlalchemy.dialects import sqlite, postgresql
    >>> str(Unindexed(runs.c.id).compile(dialect=sqlite.dialect()))
    '+runs.id'
    >>> str(Unindexed(runs.c.id).compile(dialect=postgresql.dialect()))
    'runs.id'
    """

    inherit_cache = True
    _traverse_internals = [("column", InternalTraversal.dp_clauseelement)]

    def __init__(self, column: Any) -> None:
        self.column = column
        self.type = column.type


@compiles(Unindexed)
def _plain(element: Unindexed, compiler: Any, **kw: Any) -> str:
    return str(compiler.process(element.column, **kw))


@compiles(Unindexed, "sqlite")
def _unary_plus(element: Unindexed, compiler: Any, **kw: Any) -> str:
    return "+" + str(compiler.process(element.column, **kw))


def _conditions(entity: SearchEntity, column: Any, clause: Clause) -> list[Any]:
    """The clause's condition on ``column``, plus the value-prefix equality its index can serve."""
    if clause.kind not in entity.prefixed or clause.op not in ("=", "IN"):
        return [condition(column, clause)]
    # the exact comparison as +value on SQLite: 'value = x' would let its planner fold the prefix
    # condition below into a constant and lose the index on it
    prefix, chars = entity.prefixed[clause.kind]
    wanted = [clause.value] if clause.op == "=" else list(clause.value)  # type: ignore[arg-type]
    prefixes = sorted({str(v)[:chars] for v in wanted})
    # one value as '=': SQLite's planner uses the expression index for '=', not for 'IN (one)'
    served = prefix(column) == prefixes[0] if len(prefixes) == 1 else prefix(column).in_(prefixes)
    if all(isinstance(v, str) and len(v) < chars for v in wanted):
        # a prefix shorter than the indexed length equals only that whole value: the index answers
        # exactly (and PostgreSQL does not estimate the two conditions as independent, 10x too few)
        return [served]
    return [condition(Unindexed(column), clause), served]


def _anchor_value(entity: SearchEntity, order: OrderKey, after_id: str) -> Any:
    """The anchor row's value of one order key (NULL when it has none), as a scalar subquery."""
    if order.kind == "attribute":
        column = entity.columns[order.key]
        return sa.select(column).where(entity.table.c.id == after_id).correlate(None).scalar_subquery()
    table, on = entity.joins[order.kind]
    alias = table.alias(f"anchor_{order.kind}")
    anchor_row = entity.table.alias("anchor_row")
    condition_ = on(alias, order.key).self_group()
    condition_ = sa.sql.util.ClauseAdapter(anchor_row).traverse(condition_)
    return (
        sa.select(alias.c.value)
        .select_from(anchor_row.join(alias, condition_))
        .where(anchor_row.c.id == after_id)
        .correlate(None)
        .scalar_subquery()
    )


def _known(value: Any, column: Any) -> Any:
    """An anchor value read beforehand, as a bound parameter of the column's type (a NULL one cast to
    it: PostgreSQL cannot tell the type of a bare NULL parameter)."""
    bound = sa.literal(value, column.type)
    return sa.cast(bound, column.type) if value is None else bound


def _direction(term: Any) -> tuple[Any, bool]:
    """(column, descending) of an ORDER BY term such as ``runs.c.start_ms.desc()``."""
    modifier = getattr(term, "modifier", None)
    if modifier is sa.sql.operators.desc_op:
        return term.element, True
    if modifier is sa.sql.operators.asc_op:
        return term.element, False
    return term, False


def _after(keys: Sequence[tuple[Any, Any, bool]]) -> Any:
    """Rows strictly after the anchor in lexicographic order of ``keys`` (NULLs last in each key)."""

    def later(column: Any, anchor: Any, descending: bool) -> Any:
        beyond = column < anchor if descending else column > anchor
        return sa.and_(anchor.is_not(None), sa.or_(beyond, column.is_(None)))

    def same(column: Any, anchor: Any) -> Any:
        return sa.or_(column == anchor, sa.and_(column.is_(None), anchor.is_(None)))

    return sa.or_(
        *(sa.and_(*(same(c, a) for c, a, _ in keys[:i]), later(*keys[i])) for i in range(len(keys)))
    )
