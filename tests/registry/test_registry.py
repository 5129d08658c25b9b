"""Versions, immutability, aliases, archive, audit, search and gc on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
import itertools
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

import loopwright as lw
from loopwright.registry import RegistryClient
from loopwright.store.entities import LineageEdge

PackageRun = Callable[..., str]  # the package_run fixture (tests/registry/conftest.py)


def test_versions_count_up_and_record_the_package(package_run: PackageRun) -> None:
    first, second = package_run(), package_run(weights="weights-v2")
    mv1 = lw.register_model(f"runs:/{first}/model", "churn", tags={"team": "risk", "n": 3}, description="d1")
    mv2 = lw.register_model(f"runs:/{second}/model", "churn")
    other = lw.register_model(f"runs:/{first}/model", "fraud")
    assert (mv1.version, mv2.version, other.version) == (1, 2, 1)
    assert mv1.uri == "models:/churn/1" and mv1.source == f"runs:/{first}/model" and mv1.run_id == first
    assert mv1.tags == {"team": "risk", "n": "3"} and mv1.description == "d1" and mv1.status == "ready"
    assert mv1.created_by and mv1.created_at is not None
    manifest_ref = lw.get_client().store.get_artifact("run", first, "model/manifest.json")
    assert mv1.manifest_digest == manifest_ref.digest
    files = lw.get_client().store.list_artifacts("model_version", "churn/1")
    assert {f.path for f in files} == {"manifest.json", "weights.bin"}  # notes.txt is not the model's
    assert lw.get_model_version("churn", 2) == mv2
    assert lw.get_model_version("churn", "2") == mv2
    model = lw.get_registered_model("churn")
    assert model.latest_version == 2 and model.aliases == {}


def test_register_errors_name_the_problem(package_run: PackageRun) -> None:
    run_id = package_run()
    with pytest.raises(lw.NotFound, match=r"run 'nope' not found"):
        lw.register_model("runs:/nope/model", "churn")
    with pytest.raises(
        lw.NotFound, match=rf"run '{run_id}' has no model at 'weights' \(no weights/manifest.json\)"
    ):
        lw.register_model(f"runs:/{run_id}/weights", "churn")
    with pytest.raises(lw.InvalidInput, match="runs:/RUN_ID/PATH"):
        lw.register_model("s3://bucket/model", "churn")
    with pytest.raises(lw.InvalidInput, match="invalid model name"):
        lw.register_model(f"runs:/{run_id}/model", "../churn")
    lw.delete_run(run_id)
    with pytest.raises(lw.Conflict, match="deleted"):
        lw.register_model(f"runs:/{run_id}/model", "churn")
    with pytest.raises(lw.NotFound, match="registered model 'churn' not found"):
        lw.get_model_version("churn", 1)
    lw.restore_run(run_id)
    lw.register_model(f"runs:/{run_id}/model", "churn")
    with pytest.raises(lw.NotFound, match="registered model 'churn' has no version 7"):
        lw.get_model_version("churn", 7)
    with pytest.raises(lw.InvalidInput, match="positive integer"):
        lw.get_model_version("churn", 0)


def test_versions_are_immutable(package_run: PackageRun) -> None:
    run_id = package_run()
    mv = lw.register_model(f"runs:/{run_id}/model", "churn")
    with pytest.raises(dataclasses.FrozenInstanceError):
        mv.source = "runs:/other/model"  # type: ignore[misc]
    with pytest.raises(TypeError):
        lw.update_model_version("churn", 1, source="runs:/other/model")  # type: ignore[call-arg]
    # registering the same run again makes a new version; version 1 keeps what it had
    again = lw.register_model(f"runs:/{run_id}/model", "churn")
    lw.update_model_version("churn", 1, description="the first")
    lw.set_model_version_tag("churn", 1, "stage", "prod")
    got = lw.get_model_version("churn", 1)
    assert again.version == 2
    assert (got.source, got.manifest_digest, got.run_id) == (mv.source, mv.manifest_digest, mv.run_id)
    assert got.description == "the first" and got.tags == {"stage": "prod"}


def test_alias_set_move_delete(package_run: PackageRun) -> None:
    run_id = package_run()
    for _ in range(3):
        lw.register_model(f"runs:/{run_id}/model", "churn")
    assert lw.set_alias("churn", "champion", 1).aliases == ["champion"]
    lw.set_alias("churn", "challenger", 2)
    assert lw.get_model_version_by_alias("churn", "champion").version == 1
    moved = lw.set_alias("churn", "champion", 3)
    assert moved.version == 3 and moved.aliases == ["champion"]
    assert lw.get_model_version("churn", 1).aliases == []
    assert lw.get_registered_model("churn").aliases == {"challenger": 2, "champion": 3}
    lw.set_alias("churn", "champion", 3)  # no change, no audit entry
    lw.delete_alias("churn", "champion")
    with pytest.raises(lw.NotFound, match="registered model 'churn' has no alias 'champion'"):
        lw.get_model_version_by_alias("churn", "champion")
    with pytest.raises(lw.NotFound, match="no alias 'champion'"):
        lw.delete_alias("churn", "champion")
    with pytest.raises(lw.NotFound, match="has no version 9"):
        lw.set_alias("churn", "champion", 9)
    with pytest.raises(lw.InvalidInput, match="not a version number"):
        lw.set_alias("churn", "3", 3)
    actions = [(e.action, e.before, e.after) for e in lw.list_audit_log("churn") if e.entity == "alias"]
    assert actions == [
        ("alias_set", None, {"alias": "champion", "version": 1}),
        ("alias_set", None, {"alias": "challenger", "version": 2}),
        ("alias_moved", {"alias": "champion", "version": 1}, {"alias": "champion", "version": 3}),
        ("alias_deleted", {"alias": "champion", "version": 3}, None),
    ]


def test_archived_versions_cannot_take_an_alias(package_run: PackageRun) -> None:
    run_id = package_run()
    lw.register_model(f"runs:/{run_id}/model", "churn")
    lw.register_model(f"runs:/{run_id}/model", "churn")
    assert lw.archive_model_version("churn", 1).status == "archived"
    with pytest.raises(lw.Conflict, match="version 1 of model 'churn' is archived"):
        lw.set_alias("churn", "champion", 1)
    lw.set_alias("churn", "champion", 2)
    with pytest.raises(lw.Conflict, match="holds alias 'champion'"):
        lw.archive_model_version("churn", 2)
    with pytest.raises(lw.Conflict, match="archived"):
        lw.set_alias("churn", "champion", 1)  # moving onto an archived version is refused too
    assert lw.get_model_version_by_alias("churn", "champion").version == 2
    lw.restore_model_version("churn", 1)
    assert lw.set_alias("churn", "champion", 1).version == 1


def test_audit_entries_are_complete(package_run: PackageRun, monkeypatch: pytest.MonkeyPatch) -> None:
    run_id = package_run()
    monkeypatch.setenv("LOOPWRIGHT_USER", "ada")
    lw.register_model(f"runs:/{run_id}/model", "churn", tags={"team": "risk"}, description="v1")
    lw.set_alias("churn", "champion", 1)
    monkeypatch.setenv("LOOPWRIGHT_USER", "grace")
    lw.set_model_version_tag("churn", 1, "team", "fraud")
    lw.delete_model_version_tag("churn", 1, "team")
    lw.update_model_version("churn", 1, description="retrained on May data")
    lw.set_registered_model_tag("churn", "owner", "risk-team")
    lw.update_registered_model("churn", "churn classifier")
    lw.register_model(f"runs:/{run_id}/model", "churn")
    lw.archive_model_version("churn", 2)
    lw.restore_model_version("churn", 2)
    lw.set_alias("churn", "champion", 2)
    lw.delete_alias("churn", "champion")
    log = lw.list_audit_log("churn")
    summary = [(e.entity, e.version, e.action, e.actor) for e in log]
    assert summary == [
        ("model_version", 1, "register", "ada"),
        ("alias", 1, "alias_set", "ada"),
        ("model_version", 1, "tag_set", "grace"),
        ("model_version", 1, "tag_deleted", "grace"),
        ("model_version", 1, "description_set", "grace"),
        ("registered_model", None, "tag_set", "grace"),
        ("registered_model", None, "description_set", "grace"),
        ("model_version", 2, "register", "grace"),
        ("model_version", 2, "archived", "grace"),
        ("model_version", 2, "restored", "grace"),
        ("alias", 2, "alias_moved", "grace"),
        ("alias", 2, "alias_deleted", "grace"),
    ]
    by_action = {(e.action, e.version): e for e in log}
    register = by_action[("register", 1)]
    assert register.before is None and register.after["source"] == f"runs:/{run_id}/model"
    assert register.after["manifest_digest"] == lw.get_model_version("churn", 1).manifest_digest
    assert register.after["tags"] == {"team": "risk"} and register.after["description"] == "v1"
    assert by_action[("tag_set", 1)].before == {"key": "team", "value": "risk"}
    assert by_action[("tag_set", 1)].after == {"key": "team", "value": "fraud"}
    assert by_action[("tag_deleted", 1)].after is None
    assert by_action[("description_set", 1)].before == {"description": "v1"}
    assert by_action[("archived", 2)].before == {"status": "ready"}
    assert by_action[("archived", 2)].after == {"status": "archived"}
    assert by_action[("alias_moved", 2)].before == {"alias": "champion", "version": 1}
    assert all(e.time is not None and e.time.tzinfo is not None for e in log)
    assert [e.id for e in log] == sorted(e.id for e in log)
    assert [e.action for e in lw.list_audit_log("churn", version=2)][:1] == ["register"]
    assert len(lw.list_audit_log("churn", action="alias_deleted")) == 1
    with pytest.raises(lw.NotFound, match="registered model 'nope' not found"):
        lw.list_audit_log("nope")


def test_append_audit_leaves_room_for_gate_verdicts(package_run: PackageRun) -> None:
    run_id = package_run()
    lw.register_model(f"runs:/{run_id}/model", "churn")
    store = lw.get_client().store
    entry = store.append_audit(
        "model_version", "churn", "gate_verdict", actor="gate", version=1, after={"passed": True}
    )
    assert entry.action == "gate_verdict" and entry.after == {"passed": True}
    assert lw.list_audit_log("churn")[-1] == entry
    with pytest.raises(lw.InvalidInput, match="audit entity"):
        store.append_audit("deployment", "churn", "x", actor="gate")


def test_threads_moving_one_alias_leave_a_consistent_chain(package_run: PackageRun) -> None:
    run_id = package_run()
    for _ in range(6):
        lw.register_model(f"runs:/{run_id}/model", "churn")
    registry = RegistryClient()
    errors: list[BaseException] = []

    def move(version: int) -> None:
        try:
            registry.set_alias("churn", "champion", version)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=move, args=(v,)) for v in range(1, 7)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    entries = lw.list_audit_log("churn", action=None)
    moves = [e for e in entries if e.entity == "alias"]
    assert len(moves) == 6
    assert moves[0].before is None
    for earlier, later in itertools.pairwise(moves):
        assert later.before == earlier.after  # nobody overwrote a move they did not see
    assert lw.get_model_version_by_alias("churn", "champion").version == moves[-1].after["version"]


def test_search_model_versions_filters(package_run: PackageRun) -> None:
    first = package_run()
    second = package_run()
    lw.register_model(f"runs:/{first}/model", "churn", tags={"team": "risk"})
    lw.register_model(f"runs:/{second}/model", "churn", tags={"team": "growth"})
    lw.register_model(f"runs:/{second}/model", "churn")
    lw.register_model(f"runs:/{first}/model", "fraud", tags={"team": "risk"})
    lw.set_alias("churn", "champion", 2)
    lw.archive_model_version("churn", 3)

    def found(text: str | None, **kw: object) -> list[str]:
        return [v.uri for v in lw.search_model_versions(text, **kw)]  # type: ignore[arg-type]

    assert found("name = 'churn'") == ["models:/churn/3", "models:/churn/2", "models:/churn/1"]
    assert found(None) == ["models:/churn/3", "models:/churn/2", "models:/churn/1", "models:/fraud/1"]
    assert found("name = 'churn' and version >= 2") == ["models:/churn/3", "models:/churn/2"]
    assert found(f"run_id = '{first}'") == ["models:/churn/1", "models:/fraud/1"]
    assert found("status = 'archived'") == ["models:/churn/3"]
    assert found("tags.team = 'risk'") == ["models:/churn/1", "models:/fraud/1"]
    assert found("alias = 'champion'") == ["models:/churn/2"]
    assert found("name = 'churn' and alias != 'champion'") == ["models:/churn/3", "models:/churn/1"]
    assert found("name LIKE 'chu%'", order_by=["version ASC"], max_results=2) == [
        "models:/churn/1",
        "models:/churn/2",
    ]
    assert found("name IN ('fraud', 'other')") == ["models:/fraud/1"]
    with pytest.raises(lw.InvalidInput, match="unknown model version attribute 'metric'"):
        lw.search_model_versions("metric = 1")
    with pytest.raises(lw.InvalidInput, match="numeric"):
        lw.search_model_versions("version = 'two'")
    models = lw.search_registered_models("tags.owner = 'x'")
    assert models == []
    lw.set_registered_model_tag("fraud", "owner", "x")
    assert [m.name for m in lw.search_registered_models("tags.owner = 'x'")] == ["fraud"]
    assert [m.name for m in lw.search_registered_models()] == ["churn", "fraud"]
    assert [m.name for m in lw.search_registered_models(order_by="latest_version DESC")] == ["churn", "fraud"]


def test_lineage_traces_version_to_run_data_and_edges(package_run: PackageRun) -> None:
    run_id = package_run(params={"C": 0.5, "max_iter": 200}, metrics={"auc": 0.93, "acc": 0.9})
    lw.register_model(f"runs:/{run_id}/model", "churn")
    lw.set_alias("churn", "champion", 1)
    store = lw.get_client().store
    store.add_lineage_edges(
        [
            LineageEdge("dataset", "sha256:abc", "step", "prep-1", "input"),
            LineageEdge("step", "prep-1", "run", run_id, "produced"),
            LineageEdge("step", "prep-1", "run", run_id, "produced"),  # duplicates are kept once
        ]
    )
    lineage = lw.get_lineage("models:/churn@champion")
    assert lineage.model_version.version == 1 and lineage.run is not None and lineage.run.id == run_id
    assert lineage.params == {"C": "0.5", "max_iter": "200"}
    assert lineage.metrics == {"auc": 0.93, "acc": 0.9}
    assert [(d.name, d.context, d.n_rows) for d in lineage.datasets] == [("train", "train", 3)]
    assert lineage.code_version["source_name"]
    relations = [(e.src_type, e.dst_type, e.relation) for e in lineage.edges]
    assert relations == [
        ("run", "model_version", "produced"),
        ("step", "run", "produced"),
        ("dataset", "step", "input"),
    ]
    as_dict = lineage.to_dict()
    assert as_dict["model_version"]["uri"] == "models:/churn/1" and as_dict["run"]["id"] == run_id
    assert as_dict["datasets"][0]["n_rows"] == 3 and as_dict["params"]["C"] == "0.5"
    text = repr(lineage)
    assert "models:/churn/1" in text and run_id in text and "auc=0.93" in text and "train" in text
    assert store.get_lineage_edges("step", "prep-1", "downstream")[0].dst_id == run_id
    assert len(store.get_lineage_edges("step", "prep-1", "both")) == 2
    assert lw.get_lineage("models:/churn/1").to_dict() == as_dict
    with pytest.raises(lw.InvalidInput, match="models:/NAME/VERSION"):
        lw.get_lineage("churn")


def test_gc_keeps_version_files_after_the_run_is_purged(package_run: PackageRun, lw_env: Path) -> None:
    run_id = package_run()
    mv = lw.register_model(f"runs:/{run_id}/model", "churn")
    client = lw.get_client()
    notes = client.store.get_artifact("run", run_id, "notes.txt")
    lw.delete_run(run_id)
    report = lw.gc(grace_seconds=0)
    assert report.runs == 1
    assert not client.blobs.exists(notes.digest)  # the run's other files went
    files = client.store.list_artifacts("model_version", mv.owner_id)
    assert {f.path for f in files} == {"manifest.json", "weights.bin"}
    for ref in files:
        assert client.blobs.get_bytes(ref.digest)  # present and verified
    assert RegistryClient().get_manifest(mv) == {
        "flavor": "sklearn",
        "allow_pickle": False,
        "files": {"weights.bin": "…"},
    }
    lineage = lw.get_lineage("models:/churn/1")
    assert lineage.run is None and lineage.run_id == run_id and "(purged)" in repr(lineage)
    assert lw.get_model_version("churn", 1) == mv


def test_concurrent_registrations_number_versions_without_gaps(package_run: PackageRun) -> None:
    run_id = package_run()
    registry = RegistryClient()
    got: list[int] = []
    errors: list[BaseException] = []

    def register() -> None:
        try:  # the first ones race to create the registered model itself
            got.append(registry.register_model(f"runs:/{run_id}/model", "churn").version)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=register) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and sorted(got) == [1, 2, 3, 4, 5]
    assert lw.get_registered_model("churn").latest_version == 5
    assert len(lw.list_audit_log("churn", action="register")) == 5
