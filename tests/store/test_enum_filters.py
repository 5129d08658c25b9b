"""Filters that cannot silently miss: enumerated attributes (run and model version ``status``) compare
case-insensitively, so MLflow's upper-case spellings match, and an unknown value is refused with the valid
ones (issue 12 item 6), on both backends."""

from __future__ import annotations

import pytest

from loopwright.errors import InvalidInput
from loopwright.store.sql import SqlStore


def test_run_status_filters_ignore_case_and_refuse_unknown_values(store: SqlStore) -> None:
    exp = store.create_experiment("churn").id
    ids = {name: store.create_run(exp, name=name).id for name in ("done", "broken", "going")}
    store.set_run_status(ids["done"], "finished")
    store.set_run_status(ids["broken"], "failed", error="boom")

    def names(filter: str) -> list[str]:
        return sorted(r.name for r in store.search_runs([exp], filter))

    assert names("attributes.status = 'FINISHED'") == ["done"]
    assert names("status = 'finished'") == ["done"]
    assert names("attributes.status != 'Running'") == ["broken", "done"]
    assert names("status IN ('FAILED', 'running')") == ["broken", "going"]
    assert names("status NOT IN ('FAILED')") == ["done", "going"]
    assert names("status LIKE 'FIN%'") == ["done"]
    assert names("status ILIKE 'fail%'") == ["broken"]
    for bad in ("attributes.status = 'KILLED'", "status IN ('FINISHED', 'DONE')"):
        with pytest.raises(
            InvalidInput, match=r"unknown run status '(KILLED|DONE)'; valid: running, finished, failed"
        ):
            store.search_runs([exp], bad)


def test_model_version_status_filters_ignore_case_and_refuse_unknown_values(store: SqlStore) -> None:
    for _ in range(3):
        store.create_model_version("churn", "runs:/r/model", actor="test")
    store.set_model_version_status("churn", 2, "archived", actor="test")

    def versions(filter: str) -> list[int]:
        return sorted(v.version for v in store.search_model_versions(filter))

    assert versions("name = 'churn' and status = 'READY'") == [1, 3]
    assert versions("status = 'Archived'") == [2]
    assert versions("status IN ('ARCHIVED', 'ready')") == [1, 2, 3]
    assert versions("status != 'READY'") == [2]
    # MLflow's other model version statuses are not Loopwright's: refused, never an empty answer
    with pytest.raises(
        InvalidInput, match=r"unknown model version status 'PENDING_REGISTRATION'; valid: ready, archived"
    ):
        store.search_model_versions("status = 'PENDING_REGISTRATION'")
