"""The public API keeps one verb set: ``get_X`` returns one thing, ``list_X`` / ``search_X`` a collection.

Read from the return annotations of everything ``loopwright`` exports, so a new function that breaks
the rule (a ``get_`` returning a list or a frame, a ``list_`` returning one entity) fails here.
"""

from __future__ import annotations

import collections.abc
import types
import typing

import pandas as pd
import pytest

import loopwright as lw

COLLECTIONS = (list, tuple, set, frozenset, pd.DataFrame, collections.abc.Iterable)


def _members(annotation: object) -> list[object]:
    """The alternatives of a union (``X | None`` is ``X``), else the annotation itself."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return [a for a in typing.get_args(annotation) if a is not type(None)]
    return [annotation]


def _is_collection(annotation: object) -> bool:
    kind = typing.get_origin(annotation) or annotation
    return isinstance(kind, type) and issubclass(kind, COLLECTIONS) and not issubclass(kind, str | bytes)


def _returns(prefix: str) -> list[tuple[str, object]]:
    names = sorted(n for n in lw.__all__ if n.startswith(prefix))
    return [(n, typing.get_type_hints(getattr(lw, n))["return"]) for n in names]


GETTERS = _returns("get_")
COLLECTORS = _returns("list_") + _returns("search_")


def test_the_verb_set_covers_the_renamed_functions() -> None:
    getters = {n for n, _ in GETTERS}
    collectors = {n for n, _ in COLLECTORS}
    assert {"list_monitor_windows", "list_audit_log", "list_loop_history", "list_child_runs"} <= collectors
    assert {"get_run", "get_model_version", "get_loop_state"} <= getters
    assert "step_loop" in lw.__all__ and "delete_tag" in lw.__all__
    old = {"get_monitor_windows", "get_audit_log", "get_loop_history", "get_child_runs", "close_loop"}
    assert not old & set(lw.__all__) and not any(hasattr(lw, n) for n in old)


@pytest.mark.parametrize(("name", "annotation"), GETTERS, ids=[n for n, _ in GETTERS])
def test_get_returns_one_thing(name: str, annotation: object) -> None:
    assert not any(_is_collection(a) for a in _members(annotation)), f"lw.{name} -> {annotation}"


@pytest.mark.parametrize(("name", "annotation"), COLLECTORS, ids=[n for n, _ in COLLECTORS])
def test_list_and_search_return_collections(name: str, annotation: object) -> None:
    assert all(_is_collection(a) for a in _members(annotation)), f"lw.{name} -> {annotation}"
