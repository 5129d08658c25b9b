"""The tracking half of the Store, on SQLite and PostgreSQL alike."""

from __future__ import annotations

import math

import pytest

from loopwright.errors import AlreadyExists, Conflict, InvalidInput, NotFound
from loopwright.store import ArtifactRef, DatasetInput, MetricPoint
from loopwright.store.sql import SqlStore


def test_experiment_create_get_and_duplicate(store: SqlStore) -> None:
    exp = store.create_experiment("churn", tags={"team": "risk"})
    assert store.get_experiment(exp.id).name == "churn"
    assert store.get_experiment_by_name("churn").tags == {"team": "risk"}  # type: ignore[union-attr]
    with pytest.raises(AlreadyExists, match="churn"):
        store.create_experiment("churn")
    with pytest.raises(InvalidInput, match="experiment name"):
        store.create_experiment("bad/name")
    with pytest.raises(NotFound):
        store.get_experiment("nope")


def test_run_lifecycle_params_metrics_tags(store: SqlStore) -> None:
    exp = store.create_experiment("e")
    run = store.create_run(exp.id, name="r1", tags={"a": "1"})
    assert run.status == "running" and run.start_time.tzinfo is not None
    store.log_params(run.id, {"C": "1.0", "penalty": "l2"})
    store.log_params(run.id, {"C": "1.0"})  # same value again is fine
    with pytest.raises(Conflict, match="immutable"):
        store.log_params(run.id, {"C": "2.0", "new": "x"})
    assert "new" not in store.get_run(run.id).params  # the failed batch left nothing behind
    store.log_metrics(
        [(run.id, MetricPoint("auc", 0.5, 1, 1000)), (run.id, MetricPoint("auc", 0.7, 2, 1001))]
    )
    store.log_metrics([(run.id, MetricPoint("auc", 0.1, 0, 1002))])  # older step: history only
    store.log_metrics([(run.id, MetricPoint("loss", math.nan, 0, 1003))])
    got = store.get_run(run.id)
    assert got.metrics["auc"] == 0.7
    assert math.isnan(got.metrics["loss"])
    history = store.list_metric_history(run.id, "auc")
    assert [(p.step, p.value) for p in history] == [(0, 0.1), (1, 0.5), (2, 0.7)]
    store.set_tags(run.id, {"a": "2", "b": "3"})
    store.delete_tag(run.id, "b")
    assert store.get_run(run.id).tags == {"a": "2"}
    ended = store.set_run_status(run.id, "finished")
    assert ended.end_time is not None and ended.status == "finished"
    with pytest.raises(Conflict, match="finished"):
        store.log_metrics([(run.id, MetricPoint("auc", 1.0, 3, 1004))])
    with pytest.raises(Conflict):
        store.log_params(run.id, {"z": "1"})
    with pytest.raises(InvalidInput):
        store.set_run_status(run.id, "weird")  # type: ignore[arg-type]


def test_unknown_run_and_parent(store: SqlStore) -> None:
    exp = store.create_experiment("e")
    with pytest.raises(NotFound):
        store.get_run("0" * 32)
    with pytest.raises(NotFound, match="parent"):
        store.create_run(exp.id, parent_id="f" * 32)
    with pytest.raises(NotFound):
        store.create_run("missing-experiment")
    with pytest.raises(NotFound):
        store.log_metrics([("0" * 32, MetricPoint("x", 1.0, 0, 0))])


def test_nested_runs_and_children(store: SqlStore) -> None:
    exp = store.create_experiment("e")
    parent = store.create_run(exp.id, name="parent")
    kids = [store.create_run(exp.id, name=f"kid{i}", parent_id=parent.id) for i in range(3)]
    found = store.search_runs([exp.id], f"parent_id = '{parent.id}'")
    assert {r.id for r in found} == {k.id for k in kids}


def test_datasets_and_artifact_records(store: SqlStore) -> None:
    exp = store.create_experiment("e")
    run = store.create_run(exp.id)
    store.log_dataset_inputs(run.id, [DatasetInput("train", "d" * 64, 10, {"x": "int64"}, "train")])
    assert store.get_dataset_inputs(run.id)[0].schema == {"x": "int64"}
    store.record_artifacts(
        "run", run.id, [ArtifactRef("plots/roc.png", "a" * 64, 3), ArtifactRef("m.json", "b" * 64, 4)]
    )
    assert [a.path for a in store.list_artifacts("run", run.id, "plots")] == ["plots/roc.png"]
    assert store.get_artifact("run", run.id, "m.json").digest == "b" * 64
    with pytest.raises(NotFound):
        store.get_artifact("run", run.id, "nope")
    assert store.referenced_digests() == {"a" * 64, "b" * 64}


def test_soft_delete_restore_and_purge(store: SqlStore) -> None:
    exp = store.create_experiment("churn")
    keep = store.create_run(exp.id)
    gone = store.create_run(exp.id)
    store.record_artifacts("run", gone.id, [ArtifactRef("x", "c" * 64, 1)])
    store.delete_run(gone.id)
    assert {r.id for r in store.search_runs([exp.id])} == {keep.id}
    store.restore_run(gone.id)
    assert len(store.search_runs([exp.id])) == 2
    store.delete_run(gone.id)
    report, freed = store.purge_deleted()
    assert report.runs == 1 and freed == {"c" * 64}
    with pytest.raises(NotFound):
        store.get_run(gone.id)
    # a deleted experiment keeps its name until purged, then the name is free again
    store.delete_experiment(exp.id)
    assert store.list_experiments() == []
    with pytest.raises(AlreadyExists, match="gc"):
        store.create_experiment("churn")
    report, _ = store.purge_deleted()
    assert report.experiments == 1 and report.runs == 1
    assert store.create_experiment("churn").name == "churn"


def test_a_run_is_found_by_a_unique_prefix_of_its_id(store: SqlStore) -> None:
    """The CLI's tables show the shortest unique prefix (8+ characters): it must find the run again."""
    exp = store.create_experiment("prefixes")
    runs = [store.create_run(exp.id) for _ in range(3)]
    target = runs[0]
    assert store.get_run(target.id[:12]).id == target.id
    with pytest.raises(NotFound, match="not found"):
        store.get_run(target.id[:7])  # too short to be an id prefix
    with pytest.raises(NotFound, match="not found"):
        store.get_run("ffffffffffffffffzz")
    # two runs whose ids share 10 characters: the prefix names neither, so it is refused, not guessed
    for suffix in ("0" * 22, "1" * 22):
        store.create_run(exp.id, run_id="abcdef0123" + suffix)
    with pytest.raises(InvalidInput, match="ambiguous"):
        store.get_run("abcdef0123")
    assert store.get_run("abcdef01231").id == "abcdef0123" + "1" * 22
