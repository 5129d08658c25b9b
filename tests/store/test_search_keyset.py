"""``search_runs(after_run_id=…)``: keyset pages walk the same order as one big search, under every
ordering (NULLs last, ties broken by start time and id), on SQLite, PostgreSQL and through a server."""

from __future__ import annotations

import math

import numpy as np
import pytest

from loopwright.errors import InvalidInput, NotFound
from loopwright.store.entities import MetricPoint
from loopwright.store.interface import Store

ORDERS = [None, ["metrics.auc DESC"], ["metrics.auc"], ["params.C DESC", "metrics.auc"], ["attributes.name"]]


def test_keyset_pages_follow_every_order(store: Store) -> None:
    exp = store.create_experiment("keyset")
    points = []
    for i in range(45):
        # ties on purpose: 3 runs per start time, 7 names, auc rounded, some runs without auc or C
        run = store.create_run(exp.id, name=f"r{i % 7}", start_ms=1_700_000_000_000 + (i // 3) * 1000)
        if i % 5:
            points.append((run.id, MetricPoint("auc", (i * 37 % 10) / 10, 0, 1)))
        if i % 4:
            store.log_params(run.id, {"C": str(i % 3)})
    store.log_metrics(points)
    for order in ORDERS:
        whole = [r.id for r in store.search_runs([exp.id], order_by=order)]
        walked: list[str] = []
        after = None
        while True:
            page = store.search_runs([exp.id], order_by=order, max_results=8, after_run_id=after)
            walked += [r.id for r in page]
            if len(page) < 8:
                break
            after = page[-1].id
        assert walked == whole, order
    assert len(whole) == 45
    filtered = store.search_runs(
        [exp.id], filter="metrics.auc >= 0.5", order_by=["metrics.auc DESC"], max_results=3
    )
    rest = store.search_runs(
        [exp.id], filter="metrics.auc >= 0.5", order_by=["metrics.auc DESC"], after_run_id=filtered[-1].id
    )
    assert all(r.metrics["auc"] <= filtered[-1].metrics["auc"] for r in rest)
    assert not {r.id for r in rest} & {r.id for r in filtered}


def test_unknown_anchor_is_invalid_input(store: Store) -> None:
    with pytest.raises(InvalidInput, match="after_run_id 'nope': no such run"):
        store.search_runs(after_run_id="nope")


def test_history_arrays_through_every_store(store: Store) -> None:
    """``get_metric_history_arrays`` is part of the Store: a server answers it as JSON lists (NaN kept)."""
    run = store.create_run(store.create_experiment("arrays").id)
    store.log_metrics(
        [(run.id, MetricPoint("loss", math.nan if s == 1 else s / 2, s, 10 + s)) for s in range(4)]
    )
    arrays = store.get_metric_history_arrays(run.id, "loss")
    assert arrays.steps.tolist() == [0, 1, 2, 3] and arrays.timestamps.tolist() == [10, 11, 12, 13]
    assert arrays.values.dtype == np.float64 and math.isnan(arrays.values[1]) and arrays.values[3] == 1.5
    with pytest.raises(NotFound):
        store.get_metric_history_arrays("nope", "loss")


def test_filtered_pages_equal_the_filter_applied_by_hand(store: Store) -> None:
    """Filters on keys not ordered by are semi-joins on the experiment's index (query.py): the runs they
    keep, in order, are those a plain reading of the runs keeps; pages visit each exactly once."""
    exp, other = store.create_experiment("semi").id, store.create_experiment("semi-other").id
    points = []
    for i in range(40):
        run = store.create_run(exp if i % 4 else other, start_ms=1_700_000_000_000 + i)
        store.log_params(run.id, {"p": f"v{i % 3}", "long": "x" * 250 + str(i % 2)})
        points += [(run.id, MetricPoint("m0", (i * 7 % 10) / 10, 0, 1))]
        if i % 6:  # some runs lack the order key: they come last
            points.append((run.id, MetricPoint("m1", (i * 3 % 8) / 8, 0, 1)))
    store.log_metrics(points)
    flt = f"metrics.m0 > 0.3 and params.p = 'v1' and params.long IN ('{'x' * 250}1', 'y')"
    everything = store.search_runs([exp], max_results=100)
    kept = [
        r
        for r in everything
        if r.metrics["m0"] > 0.3 and r.params["p"] == "v1" and r.params["long"].endswith("1")
    ]
    expected = sorted(
        kept,
        key=lambda r: ("m1" not in r.metrics, -r.metrics.get("m1", 0), -r.start_time.timestamp(), r.id),
    )
    assert expected and len(expected) < len(everything)
    whole = store.search_runs([exp], filter=flt, order_by=["metrics.m1 DESC"])
    assert [r.id for r in whole] == [r.id for r in expected]
    walked: list[str] = []
    after = None
    while page := store.search_runs(
        [exp], filter=flt, order_by=["metrics.m1 DESC"], max_results=2, after_run_id=after
    ):
        walked += [r.id for r in page]
        after = page[-1].id
    assert walked == [r.id for r in expected]
