"""The three searches share one query builder: the same page-size rule, the same message."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

from loopwright.errors import InvalidInput
from loopwright.store.sql import SqlStore

SEARCHES: dict[str, Callable[[SqlStore, Any], list[Any]]] = {
    "runs": lambda store, n: store.search_runs(None, None, None, max_results=n),
    "registered models": lambda store, n: store.search_registered_models(None, None, max_results=n),
    "model versions": lambda store, n: store.search_model_versions(None, None, max_results=n),
}


@pytest.mark.parametrize("what", sorted(SEARCHES))
@pytest.mark.parametrize("bad", [True, False, -1, 2.0, "10", None])
def test_max_results_must_be_a_count(store: SqlStore, what: str, bad: object) -> None:
    expected = f"^{re.escape(f'max_results must be a non-negative integer, got {bad!r}')}$"
    if store.uri.startswith("http"):  # the server's request validation says it first, naming the field
        expected = "max_results" if bad != -1 else expected
    with pytest.raises(InvalidInput, match=expected):
        SEARCHES[what](store, bad)


@pytest.mark.parametrize("what", sorted(SEARCHES))
def test_zero_results_is_an_empty_page(store: SqlStore, what: str) -> None:
    assert SEARCHES[what](store, 0) == []


@pytest.mark.parametrize("bad", [True, -1, 1.5])
def test_run_offset_must_be_a_count(store: SqlStore, bad: object) -> None:
    expected = re.escape(f"offset must be a non-negative integer, got {bad!r}")
    if store.uri.startswith("http") and bad != -1:  # the server's request validation, naming the field
        expected = "offset"
    with pytest.raises(InvalidInput, match=expected):
        store.search_runs(None, None, None, max_results=5, offset=bad)  # type: ignore[arg-type]
