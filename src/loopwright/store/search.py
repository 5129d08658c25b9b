"""Parse MLflow-style filters and orderings into a small, validated form.

Grammar: ``clause [AND clause]...`` where a clause is ``IDENT OP VALUE``; ``IDENT`` is
``metrics.KEY``, ``params.KEY``, ``tags.KEY`` or an attribute (``status``, ``name``,
``start_time``, ``end_time``, ``run_id``, ``parent_id``); keys with odd characters go in
backticks or double quotes (``metrics.`f1 score```). Shared by every store implementation.
A :class:`Grammar` says which prefixes and attributes an entity has: runs by default,
:data:`MODEL_VERSIONS` and :data:`REGISTERED_MODELS` for the registry.

Examples
--------
>>> parse_filter("metrics.auc > 0.9 and params.penalty = 'l2'")
[Clause(kind='metric', key='auc', op='>', value=0.9), Clause(kind='param', key='penalty', op='=', value='l2')]
>>> parse_order_by(["metrics.auc DESC", "name"])
[OrderKey(kind='metric', key='auc', descending=True), OrderKey(kind='attribute', key='name', descending=False)]
>>> parse_filter("name = 'churn' and version >= 2 and tags.team = 'risk'", MODEL_VERSIONS)[1]
Clause(kind='attribute', key='version', op='>=', value=2.0)
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Literal, get_args

from loopwright.errors import InvalidInput
from loopwright.store.entities import RUN_STATUSES, ModelVersionStatus

Kind = Literal["metric", "param", "tag", "attribute"]

_PREFIXES: dict[str, Kind] = {
    "metrics": "metric",
    "metric": "metric",
    "params": "param",
    "param": "param",
    "parameters": "param",
    "tags": "tag",
    "tag": "tag",
    "attributes": "attribute",
    "attribute": "attribute",
    "attr": "attribute",
    "run": "attribute",
}
# attribute name as users write it -> canonical name
ATTRIBUTES = {
    "status": "status",
    "name": "name",
    "run_name": "name",
    "start_time": "start_time",
    "end_time": "end_time",
    "run_id": "run_id",
    "id": "run_id",
    "parent_id": "parent_id",
    "experiment_id": "experiment_id",
}
NUMERIC_ATTRIBUTES = {"start_time", "end_time"}
COMPARISONS = ("=", "!=", "<", "<=", ">", ">=")
STRING_OPS = ("=", "!=", "LIKE", "ILIKE", "IN", "NOT IN")

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
      | (?P<backtick>`[^`]*`)
      | (?P<number>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?(?![\w.]))
      | (?P<op><=|>=|!=|<>|==|=|<|>)
      | (?P<paren>[(),])
      | (?P<word>[A-Za-z_][\w\-:/]*)
      | (?P<dot>\.)
    )""",
    re.VERBOSE,
)


@dataclass(frozen=True)
class Grammar:
    """What one entity's filters may name: ``PREFIX.KEY`` kinds and plain attributes."""

    entity: str
    prefixes: Mapping[str, Kind]
    attributes: Mapping[str, str]  # as users write it -> canonical name
    numeric: frozenset[str]
    # canonical attribute -> its stored (lower-case) values: compared case-insensitively, others refused
    enums: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: MappingProxyType({}))


RUNS = Grammar(
    "run", _PREFIXES, ATTRIBUTES, frozenset(NUMERIC_ATTRIBUTES), MappingProxyType({"status": RUN_STATUSES})
)
_TAGS_ONLY: dict[str, Kind] = {"tags": "tag", "tag": "tag"}
MODEL_VERSIONS = Grammar(
    "model version",
    _TAGS_ONLY,
    {
        "name": "name",
        "version": "version",
        "run_id": "run_id",
        "status": "status",
        "alias": "alias",
        "aliases": "alias",
        "source": "source",
        "created_by": "created_by",
        "created_time": "created_time",
        "creation_timestamp": "created_time",
    },
    frozenset({"version", "created_time"}),
    MappingProxyType({"status": get_args(ModelVersionStatus)}),
)
REGISTERED_MODELS = Grammar(
    "registered model",
    _TAGS_ONLY,
    {
        "name": "name",
        "created_time": "created_time",
        "updated_time": "updated_time",
        "latest_version": "latest_version",
    },
    frozenset({"created_time", "updated_time", "latest_version"}),
)

TRACES = Grammar(
    "trace",
    {},
    {
        "name": "name",
        "status": "status",
        "run_id": "run_id",
        "prompt": "prompt",
        "model": "model",
        "start_time": "start_time",
        "duration_ms": "duration_ms",
        "input_tokens": "input_tokens",
        "output_tokens": "output_tokens",
        "cost": "cost",
    },
    frozenset({"start_time", "duration_ms", "input_tokens", "output_tokens", "cost"}),
    MappingProxyType({"status": ("ok", "error")}),
)


@dataclass(frozen=True)
class Clause:
    kind: Kind
    key: str
    op: str
    value: float | str | tuple[str, ...]


@dataclass(frozen=True)
class OrderKey:
    kind: Kind
    key: str
    descending: bool


def _tokenize(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise InvalidInput(f"cannot parse near {text[pos : pos + 20]!r}")
        pos = match.end()
        kind = match.lastgroup
        assert kind is not None
        tokens.append((kind, match.group(kind)))
    return tokens


def _unquote(token: str) -> str:
    body = token[1:-1]
    return re.sub(r"\\(.)", r"\1", body)


class _Parser:
    def __init__(self, text: str, grammar: Grammar = RUNS):
        self.text = text
        self.grammar = grammar
        self.tokens = _tokenize(text)
        self.pos = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        token = self.peek()
        if token is None:
            raise InvalidInput("it ends too early: expected IDENT OP VALUE")
        self.pos += 1
        return token

    def identifier(self) -> tuple[Kind, str]:
        kind, text = self.take()
        prefixes = self.grammar.prefixes
        if kind in ("backtick", "string"):
            expected = ", ".join(sorted({f"{p}.KEY" for p in prefixes if p.endswith("s")}))
            raise InvalidInput(f"expected {expected} or an attribute, got {text}")
        if kind != "word":
            raise InvalidInput(f"expected an identifier, got {text!r}")
        nxt = self.peek()
        if text.lower() in prefixes and nxt is not None and nxt[0] == "dot":
            self.take()
            key = self._key()
            entity = prefixes[text.lower()]
            if entity == "attribute":
                return "attribute", _attribute(key, self.grammar)
            return entity, key
        return "attribute", _attribute(text, self.grammar)

    def _key(self) -> str:
        kind, text = self.take()
        if kind in ("backtick", "string"):
            return _unquote(text)
        if kind != "word":
            raise InvalidInput(f"expected a key after '.', got {text!r}")
        parts = [text]
        # unquoted keys may contain dots: metrics.f1.macro
        while (nxt := self.peek()) is not None and nxt[0] == "dot":
            self.take()
            part_kind, part = self.take()
            if part_kind not in ("word", "number"):
                raise InvalidInput(f"unexpected {part!r} in key {'.'.join(parts)}")
            parts.append(part.lstrip("."))
        return ".".join(parts)

    def operator(self) -> str:
        kind, text = self.take()
        if kind == "op":
            return {"<>": "!=", "==": "="}.get(text, text)
        upper = text.upper()
        if kind == "word" and upper in ("LIKE", "ILIKE", "IN"):
            return upper
        if kind == "word" and upper == "NOT":
            _, nxt = self.take()
            if nxt.upper() == "IN":
                return "NOT IN"
            if nxt.upper() in ("LIKE", "ILIKE"):
                raise InvalidInput("NOT LIKE is not supported; use != or a narrower LIKE pattern")
        raise InvalidInput(f"expected a comparison operator, got {text!r}")

    def value(self, op: str) -> float | str | tuple[str, ...]:
        if op in ("IN", "NOT IN"):
            kind, text = self.take()
            if text != "(":
                raise InvalidInput(f"{op} needs a parenthesised list, e.g. ('a', 'b')")
            items: list[str] = []
            while True:
                kind, text = self.take()
                if kind == "string":
                    items.append(_unquote(text))
                elif kind == "number":
                    items.append(text)
                else:
                    raise InvalidInput(f"{op} lists hold quoted strings, got {text!r}")
                kind, text = self.take()
                if text == ")":
                    return tuple(items)
                if text != ",":
                    raise InvalidInput(f"expected ',' or ')' in {op} list, got {text!r}")
        kind, text = self.take()
        if kind == "string":
            return _unquote(text)
        if kind == "number":
            return float(text)
        raise InvalidInput(f"expected a number or a quoted string after {op!r}, got {text!r}")


def _attribute(name: str, grammar: Grammar) -> str:
    canonical = grammar.attributes.get(name.lower())
    if canonical is None:
        known = ", ".join(sorted(set(grammar.attributes)))
        raise InvalidInput(f"unknown {grammar.entity} attribute {name!r}; known: {known}")
    return canonical


def _check(clause: Clause, grammar: Grammar) -> Clause:
    numeric_kind = clause.kind == "metric" or (clause.kind == "attribute" and clause.key in grammar.numeric)
    if numeric_kind:
        if clause.op not in COMPARISONS:
            raise InvalidInput(
                f"{clause.kind} {clause.key!r} is numeric: use one of {', '.join(COMPARISONS)}"
            )
        if not isinstance(clause.value, float):
            raise InvalidInput(
                f"{clause.kind} {clause.key!r} is numeric: compare it with a number, not {clause.value!r}"
            )
        return clause
    if clause.op not in STRING_OPS:
        raise InvalidInput(
            f"{clause.kind} {clause.key!r} holds strings: use one of {', '.join(STRING_OPS)} (got {clause.op})"
        )
    if isinstance(clause.value, float):
        # users write params.C = 1.0; params are stored as the string they logged
        raise InvalidInput(
            f"{clause.kind} {clause.key!r} holds strings: quote the value, e.g. {clause.kind}s.{clause.key} = '{_num(clause.value)}'"
        )
    if clause.kind == "attribute" and clause.key in grammar.enums:
        return _enumerated(clause, grammar.enums[clause.key], grammar)
    return clause


def _enumerated(clause: Clause, valid: tuple[str, ...], grammar: Grammar) -> Clause:
    """An enumerated attribute's clause with its values lower-cased as stored; an unknown value is refused.

    MLflow spells statuses in upper case (``'FINISHED'``): compared as written they would match nothing,
    silently. A LIKE pattern is lower-cased, not checked (``'FAIL%'`` names no one value).

    >>> parse_filter("attributes.status IN ('FINISHED', 'Failed')")[0].value
    ('finished', 'failed')
    >>> parse_filter("status = 'KILLED'")
    Traceback (most recent call last):
    ...
    loopwright.errors.InvalidInput: invalid run filter "status = 'KILLED'": unknown run status 'KILLED'; valid: running, finished, failed (any case)
    """
    if clause.op in ("LIKE", "ILIKE"):
        return replace(clause, value=str(clause.value).lower())
    values = clause.value if isinstance(clause.value, tuple) else (str(clause.value),)
    for value in values:
        if value.lower() not in valid:
            raise InvalidInput(
                f"unknown {grammar.entity} {clause.key} {value!r}; valid: {', '.join(valid)} (any case)"
            )
    lowered = tuple(v.lower() for v in values)
    return replace(clause, value=lowered if isinstance(clause.value, tuple) else lowered[0])


def _num(value: float) -> str:
    return str(int(value)) if value.is_integer() else str(value)


def parse_filter(text: str | None, grammar: Grammar = RUNS) -> list[Clause]:
    """Parse a filter string into clauses joined by AND (empty for ``None``/blank)."""
    if text is None:
        return []
    if not isinstance(text, str):
        raise InvalidInput(f"filter must be a string, got {type(text).__name__}")
    if not text.strip():
        return []
    try:
        return _parse_clauses(text, grammar)
    except InvalidInput as error:
        # every parse error quotes the whole filter, so a user sees which string was wrong
        raise InvalidInput(f"invalid {grammar.entity} filter {text!r}: {error}") from None


def _parse_clauses(text: str, grammar: Grammar) -> list[Clause]:
    parser = _Parser(text, grammar)
    clauses: list[Clause] = []
    while True:
        kind, key = parser.identifier()
        op = parser.operator()
        clauses.append(_check(Clause(kind, key, op, parser.value(op)), grammar))
        nxt = parser.peek()
        if nxt is None:
            return clauses
        word = parser.take()[1]
        if word.upper() == "OR":
            raise InvalidInput(
                f"OR is not supported in {grammar.entity} filters; run two searches or use IN (...)"
            )
        if word.upper() != "AND":
            raise InvalidInput(f"expected AND between clauses, got {word!r}")


def parse_order_by(order_by: Sequence[str] | str | None, grammar: Grammar = RUNS) -> list[OrderKey]:
    """Parse ``["metrics.auc DESC", "start_time"]`` into order keys."""
    if order_by is None:
        return []
    if isinstance(order_by, str):
        order_by = [order_by]
    keys: list[OrderKey] = []
    for item in order_by:
        if not isinstance(item, str) or not item.strip():
            raise InvalidInput(f"order_by entries are strings like 'metrics.auc DESC', got {item!r}")
        try:
            keys.append(_order_key(item, grammar))
        except InvalidInput as error:
            raise InvalidInput(f"invalid {grammar.entity} order_by {item!r}: {error}") from None
    return keys


def _order_key(item: str, grammar: Grammar) -> OrderKey:
    parser = _Parser(item, grammar)
    kind, key = parser.identifier()
    descending = False
    nxt = parser.peek()
    if nxt is not None:
        direction = parser.take()[1].upper()
        if direction not in ("ASC", "DESC") or parser.peek() is not None:
            raise InvalidInput("expected IDENT [ASC|DESC], e.g. 'metrics.auc DESC'")
        descending = direction == "DESC"
    return OrderKey(kind, key, descending)
