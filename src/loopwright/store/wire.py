"""The JSON wire format of the Store: each method's parameters and result, typed by its annotations.

Both ends read the :class:`~loopwright.store.Store` method's signature: the server to validate a
request and describe it in OpenAPI, ``RestStore`` to encode the call and decode the answer into the
same dataclasses :class:`~loopwright.store.sql.SqlStore` returns. pydantic does the conversion
(dataclasses, aware datetimes, ``Literal`` values), so nothing is hand-mapped per entity.

Examples
--------
>>> from loopwright.store.entities import Experiment
>>> spec = signature_of("create_experiment")
>>> list(spec.params), spec.returns is Experiment
(['name', 'tags'], True)
>>> decode(spec.returns, encode(Experiment("e1", "churn"))) == Experiment("e1", "churn")
True
"""

from __future__ import annotations

import collections.abc
import dataclasses
import inspect
import json
import types
import typing
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

import numpy as np
import pydantic

from loopwright.store.interface import Store

_NO_DEFAULT = inspect.Parameter.empty


@dataclass(frozen=True)
class MethodSpec:
    """A Store method's parameters (name → (type, default or ``inspect.Parameter.empty``)) and result."""

    params: dict[str, tuple[Any, Any]]
    returns: Any


def _concrete(hint: Any) -> Any:
    """Abstract containers as the concrete ones JSON decodes to (``Mapping`` → ``dict``, …)."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin is None or not args:
        if hint in (collections.abc.Mapping,):
            return dict
        if hint in (collections.abc.Sequence, collections.abc.Iterable):
            return list
        return hint
    concrete = tuple(_concrete(a) for a in args)
    if origin is collections.abc.Mapping:
        return dict[concrete[0], concrete[1]]  # type: ignore[valid-type]
    if origin in (collections.abc.Sequence, collections.abc.Iterable):
        return list[concrete[0]]  # type: ignore[valid-type]
    if origin in (typing.Union, types.UnionType):
        return typing.Union[concrete]  # noqa: UP007 - built from a tuple
    if origin is typing.Literal:
        return hint
    return origin[concrete] if len(concrete) > 1 else origin[concrete[0]]


@cache
def signature_of(method: str) -> MethodSpec:
    """The wire shape of ``Store.<method>``."""
    function = getattr(Store, method)
    hints = typing.get_type_hints(function)
    params = {
        name: (_concrete(hints[name]), parameter.default)
        for name, parameter in inspect.signature(function).parameters.items()
        if name != "self"
    }
    return MethodSpec(params, _concrete(hints.get("return", type(None))))


@cache
def adapter(hint: Any) -> pydantic.TypeAdapter[Any]:
    return pydantic.TypeAdapter(hint)


def plain(value: Any) -> Any:
    """``value`` as JSON types: dataclasses as objects, datetimes as ISO 8601, tuples and sets as lists.

    Floats stay floats, NaN and infinities included (written as ``NaN``/``Infinity``, which both
    ends read back): a metric may be NaN, and JSON's ``null`` would lose that.
    """
    kind: Any = type(value)
    if kind in _LEAVES:  # most values (a search answers thousands): no further checks
        return value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): v if type(v) in _LEAVES else plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, set | frozenset):
        return sorted(plain(v) for v in value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {name: plain(getattr(value, name)) for name in _field_names(kind)}
    if isinstance(value, np.ndarray):  # a history's columns: one list of numbers each
        return value.tolist()
    return value


_LEAVES = frozenset({str, int, float, bool, type(None)})


@cache
def _field_names(cls: Any) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls))


def encode(value: Any) -> bytes:
    """JSON bytes of ``value`` (see :func:`plain`)."""
    return json.dumps(plain(value), separators=(",", ":")).encode()


def decode(hint: Any, data: bytes | str) -> Any:
    """Validate JSON ``data`` as ``hint`` and build it (the dataclasses the Store returns)."""
    return adapter(hint).validate_json(data)
