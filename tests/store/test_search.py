"""search_runs: filters, ordering, paging and bad filters, on both backends."""

from __future__ import annotations

import pytest

from loopwright.errors import InvalidInput
from loopwright.store import MetricPoint
from loopwright.store.search import parse_filter
from loopwright.store.sql import SqlStore


@pytest.fixture
def populated(store: SqlStore) -> tuple[SqlStore, str]:
    exp = store.create_experiment("churn")
    other = store.create_experiment("other")
    for i in range(20):
        run = store.create_run(exp.id, name=f"r{i:02d}", start_ms=1_000_000 + i)
        store.log_params(run.id, {"penalty": "l2" if i % 2 == 0 else "l1", "C": str(i)})
        store.log_metrics(
            [(run.id, MetricPoint("auc", i / 20, 0, 1)), (run.id, MetricPoint("f1 score", 1 - i / 20, 0, 1))]
        )
        if i < 5:
            store.set_tags(run.id, {"team": "risk"})
        if i == 19:
            store.set_run_status(run.id, "failed", error="boom")
    noise = store.create_run(other.id, name="noise")
    store.log_metrics([(noise.id, MetricPoint("auc", 0.99, 0, 1))])
    return store, exp.id


def names(runs: list) -> list[str]:
    return [r.name for r in runs]


def test_filter_metric_and_param_order_by_metric(populated: tuple[SqlStore, str]) -> None:
    store, exp = populated
    runs = store.search_runs([exp], "metrics.auc > 0.7 and params.penalty = 'l2'", ["metrics.auc DESC"])
    assert names(runs) == ["r18", "r16"]
    assert runs[0].params["C"] == "18" and runs[0].metrics["auc"] == pytest.approx(0.9)


def test_attributes_tags_like_in_and_quoted_keys(populated: tuple[SqlStore, str]) -> None:
    store, exp = populated
    assert names(store.search_runs([exp], "status = 'failed'")) == ["r19"]
    assert len(store.search_runs([exp], "tags.team = 'risk'")) == 5
    assert names(store.search_runs([exp], "name LIKE 'r1%' and params.C IN ('11', '12')", ["name"])) == [
        "r11",
        "r12",
    ]
    assert names(store.search_runs([exp], "metrics.`f1 score` >= 0.95", ["name ASC"])) == ["r00", "r01"]
    assert len(store.search_runs(None, "metrics.auc > 0.96")) == 1  # across experiments: the noise run


def test_order_missing_metric_last_and_paging(populated: tuple[SqlStore, str]) -> None:
    store, exp = populated
    extra = store.create_run(exp, name="no-metrics", start_ms=1)
    runs = store.search_runs([exp], None, ["metrics.auc ASC"], max_results=100)
    assert runs[-1].id == extra.id and runs[0].name == "r00"
    page1 = store.search_runs([exp], None, ["name"], max_results=5)
    page2 = store.search_runs([exp], None, ["name"], max_results=5, offset=5)
    assert names(page1) == ["no-metrics", "r00", "r01", "r02", "r03"]
    assert names(page2)[0] == "r04"
    # default order: newest first
    assert store.search_runs([exp], None, None, max_results=1)[0].name == "r19"


@pytest.mark.parametrize(
    "text, message",
    [
        ("metrics.auc > 'high'", "numeric"),
        ("params.C > 1", "strings"),
        ("metrics.auc > 0.5 or params.C = '1'", "OR is not supported"),
        ("colour = 'red'", "unknown run attribute"),
        ("metrics.auc >", "ends too early"),
        ("metrics.auc ~ 3", "cannot parse"),
        ("params.C = 1", "quote the value"),
    ],
)
def test_bad_filters_name_the_problem(text: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        parse_filter(text)


def test_bad_order_by(populated: tuple[SqlStore, str]) -> None:
    store, exp = populated
    with pytest.raises(InvalidInput, match="ASC"):
        store.search_runs([exp], None, ["metrics.auc sideways"])
