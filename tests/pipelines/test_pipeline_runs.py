"""Running pipelines: tracking, caching rules, parallel branches, retries, failure, resume, lineage."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pipeline_flows as flows
import pytest
from sklearn.linear_model import LogisticRegression

import loopwright as lw


@pytest.fixture(scope="module")
def digits_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return flows.write_digits_csv(tmp_path_factory.mktemp("data") / "digits.csv")


def test_churn_runs_tracked_nested_and_materialised(lw_env: Path, digits_csv: Path) -> None:
    result = flows.churn.run(path=str(digits_csv), C=0.5)
    assert result.status == "finished" and result.executed == ["load", "split", "train", "evaluate"]
    assert isinstance(result["train"], LogisticRegression) and result["train"].C == 0.5
    train_df, test_df = result["split"]
    assert isinstance(train_df, pd.DataFrame) and len(train_df) == 120 and len(test_df) == 1797 - 120
    assert result.output == result["evaluate"] and 0.5 < result["evaluate"]["auc"] <= 1.0

    # the pipeline run is a tracking run with params and the steps' metrics rolled up
    run = lw.get_run(result.run_id)
    assert run.status == "finished" and run.params["C"] == "0.5"
    assert run.metrics["auc"] == pytest.approx(result["evaluate"]["auc"])
    # each step ran inside its own tracking run nested under the pipeline's
    children = {c.name: c for c in lw.list_child_runs(result.run_id)}
    assert set(children) == {"load", "split", "train", "evaluate"}
    assert children["evaluate"].metrics["auc"] == pytest.approx(result["evaluate"]["auc"])
    assert children["train"].params["C"] == "0.5"

    steps = result.steps
    assert all(s.status == "done" and s.attempts == 1 and not s.cache_hit for s in steps.values())
    assert all(s.start_time <= s.end_time for s in steps.values())  # type: ignore[operator]
    assert steps["load"].inputs[0].kind == "file" and steps["load"].inputs[0].path == str(digits_csv)
    # a returned model is a model package in the step's run: loadable and registrable
    assert steps["train"].outputs[0].materializer == "model"
    assert result.model_uri("train") == f"runs:/{steps['train'].run_id}/outputs/train"
    packaged = lw.load_model(result.model_uri("train"))
    assert packaged.flavor == "sklearn" and packaged.native.C == 0.5
    assert steps["split"].outputs[0].n_rows == 120
    # outputs are artifacts of the step runs, so gc keeps their blobs
    client = lw.get_client()
    paths = [a.path for a in client.list_artifacts(steps["train"].run_id)]  # type: ignore[arg-type]
    assert "outputs/train/manifest.json" in paths
    assert [a.path for a in client.list_artifacts(steps["split"].run_id)] == [  # type: ignore[arg-type]
        "outputs/split.0.parquet",
        "outputs/split.1.parquet",
    ]
    datasets = client.get_dataset_inputs(steps["train"].run_id)  # type: ignore[arg-type]
    assert [d.context for d in datasets] == ["input"] and datasets[0].n_rows == 120
    lw.gc(grace_seconds=0)
    assert isinstance(lw.get_pipeline_run(result.run_id)["train"], LogisticRegression)
    listed = lw.list_pipeline_runs("churn")
    assert [r.id for r in listed] == [result.run_id] and len(listed[0].steps) == 4


def test_caching_rules(sqlite_env: Path, digits_csv: Path, tmp_path: Path) -> None:
    first = flows.churn.run(path=str(digits_csv), C=0.5)
    # nothing changed: no step executes, every hit is recorded
    again = flows.churn.run(path=str(digits_csv), C=0.5)
    assert again.executed == [] and again.cache_hits == ["load", "split", "train", "evaluate"]
    assert again.steps["train"].cached_from == first.steps["train"].id
    assert again.digests("train") == first.digests("train")
    assert lw.get_run(again.run_id).metrics["auc"] == pytest.approx(first["evaluate"]["auc"])
    assert lw.get_run(again.steps["evaluate"].run_id).metrics["auc"] == pytest.approx(
        first["evaluate"]["auc"]
    )  # type: ignore[arg-type]
    # one parameter changed: only that step and what is downstream of it rerun
    changed = flows.churn.run(path=str(digits_csv), C=0.05)
    assert changed.cache_hits == ["load", "split"] and changed.executed == ["train", "evaluate"]
    # per run cache=False reruns everything
    assert flows.churn.run(path=str(digits_csv), C=0.5, cache=False).executed == [
        "load",
        "split",
        "train",
        "evaluate",
    ]
    # the input file's content is part of the key: editing it reruns load, and downstream only if needed
    copy = tmp_path / "copy.csv"
    copy.write_bytes(digits_csv.read_bytes())
    base = flows.churn.run(path=str(copy), C=0.5)
    assert base.executed == ["load"]  # another path, same frame: split/train/evaluate reused
    pd.read_csv(copy).iloc[::-1].to_csv(copy, index=False)
    assert flows.churn.run(path=str(copy), C=0.5).executed == ["load", "split", "train", "evaluate"]
    # @step(cache=False) always runs; its consumers rerun only when its output changes
    flows.uncached.run(x=1)
    rerun = flows.uncached.run(x=1)
    assert rerun.cache_hits == ["inc"] and rerun.executed == ["now_ns", "add"]


def test_changed_step_source_reruns_that_step(
    sqlite_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(tmp_path))
    source = (
        "from loopwright import pipeline, step\n"
        "@step\ndef base(x: int) -> int:\n    return x + 1\n"
        "@step\ndef scale(x: int) -> int:\n    return x * {factor}\n"
        "@step\ndef show(x: int) -> str:\n    return f'value={{x}}'\n"
        "@pipeline\ndef flow(x: int = 1):\n    return show(scale(base(x)))\n"
    )
    module = tmp_path / "editable_flow.py"
    module.write_text(source.format(factor="2"))
    mod = importlib.import_module("editable_flow")
    assert mod.flow.run(x=1).output == "value=4"
    module.write_text(source.format(factor="(1 + 1)"))  # same behaviour, different code
    mod = importlib.reload(mod)
    rerun = mod.flow.run(x=1)
    # the edited step reruns; its output is byte-identical, so the step after it stays cached
    assert rerun.executed == ["scale"] and rerun.cache_hits == ["base", "show"]
    module.write_text(source.format(factor="300"))
    mod = importlib.reload(mod)
    assert mod.flow.run(x=1).executed == ["scale", "show"]
    sys.modules.pop("editable_flow", None)


def test_parallel_branches_overlap_in_time(sqlite_env: Path) -> None:
    result = flows.branches.run(seconds=0.8)
    left, right = result.steps["nap"], result.steps["nap_2"]
    # both branches started before either finished: they ran at the same time
    assert max(left.start_time, right.start_time) < min(left.end_time, right.end_time)  # type: ignore[type-var]
    assert result.steps["join"].start_time >= max(left.end_time, right.end_time)  # type: ignore[operator]
    tags = result.output
    assert tags[0].startswith("left:") and tags[1].startswith("right:")
    # lw.log_metric inside a step works in a pool worker too
    assert lw.get_run(left.run_id).metrics["slept"] == 0.8  # type: ignore[arg-type]
    assert lw.get_run(left.run_id).parent_id == result.run_id  # type: ignore[arg-type]


def test_retries_with_backoff(sqlite_env: Path, tmp_path: Path) -> None:
    result = flows.retrying.run(counter=str(tmp_path / "count"), fail_times=2)
    step = result.steps["flaky"]
    assert step.status == "done" and step.attempts == 3 and result.output == 3
    assert "transient failure 1" in (step.logs_tail or "") and "transient failure 2" in (step.logs_tail or "")
    with pytest.raises(lw.PipelineFailed, match="step 'flaky' failed: ConnectionError: transient failure 4"):
        flows.retrying.run(counter=str(tmp_path / "count2"), fail_times=10)


def test_failure_skips_downstream_and_resume_reuses_what_succeeded(lw_env: Path, tmp_path: Path) -> None:
    flag = tmp_path / "down.flag"
    flag.write_text("x")
    with pytest.raises(lw.PipelineFailed) as info:
        flows.breakable.run(x=3, flag=str(flag), cache=False)
    failure = info.value
    assert failure.step == "fragile" and "RuntimeError: flag down.flag is up" in str(failure)
    steps = failure.result.steps
    assert {n: s.status for n, s in steps.items()} == {
        "first": "done",
        "fragile": "failed",
        "last": "skipped",
        "side": "done",  # an independent branch still finishes
    }
    assert "fragile" in (steps["last"].error or "")
    failed_run = lw.get_pipeline_run(failure.run_id).run
    assert failed_run.status == "failed" and "step 'fragile' failed" in (failed_run.error or "")
    assert lw.get_run(failure.run_id).status == "failed"

    flag.unlink()
    resumed = flows.breakable.run(resume=failure.run_id, cache=False)
    assert resumed.run.resumed_from == failure.run_id
    assert resumed.cache_hits == ["first", "side"] and resumed.executed == ["fragile", "last"]
    assert resumed.output == (70, 5)


def test_outputs_without_materialiser_fail_naming_the_type(sqlite_env: Path) -> None:
    with pytest.raises(lw.PipelineFailed, match=r"cannot materialise a Opaque .*register_materializer"):
        flows.opaque.run()


def test_frames_as_parameters_are_pipeline_inputs(sqlite_env: Path) -> None:
    frame = pd.DataFrame({"a": [1, 2], "b": [3, 4]})
    result = flows.sums.run(frame=frame)
    assert isinstance(result.output, np.ndarray) and result.output.tolist() == [3, 7]
    client = lw.get_client()
    assert [a.path for a in client.list_artifacts(result.run_id)] == ["inputs/column_sums.frame.parquet"]
    assert client.get_dataset_inputs(result.run_id)[0].n_rows == 2
    assert flows.sums.run(frame=frame.copy()).cache_hits == ["column_sums"]


def test_lineage_walks_from_model_to_pipeline_run_and_input_data(sqlite_env: Path, digits_csv: Path) -> None:
    first = flows.churn.run(path=str(digits_csv), C=2.0)
    cached = flows.churn.run(path=str(digits_csv), C=2.0)
    model_digest = cached.digests("train")[0]
    lineage = lw.get_pipeline_lineage(model_digest)
    step_runs = lineage.ids("step_run")
    assert f"step_run:{first.steps['train'].id}" in step_runs
    assert f"step_run:{first.steps['load'].id}" in step_runs
    assert f"pipeline_run:{first.run_id}" in lineage.ids("pipeline_run")
    files = [n for n in lineage.nodes if n.kind == "file"]
    assert len(files) == 1 and files[0].detail == str(digits_csv)
    assert lineage.ids("dataset")  # the frames' fingerprints
    # from the tracking run of the cached train step: it reused the first run's train step
    by_run = lw.get_pipeline_lineage(cached.steps["train"].run_id)  # type: ignore[arg-type]
    assert f"pipeline_run:{cached.run_id}" in by_run.ids("pipeline_run")
    assert f"pipeline_run:{first.run_id}" in by_run.ids("pipeline_run")
    assert any(e.relation == "reused" for e in by_run.edges)


def test_registry_lineage_walks_back_through_the_pipeline(lw_env: Path, digits_csv: Path) -> None:
    first = flows.churn.run(path=str(digits_csv), C=3.0)
    cached = flows.churn.run(path=str(digits_csv), C=3.0)
    train_run = cached.steps["train"].run_id
    assert train_run is not None
    version = lw.register_model(cached.model_uri("train"), "churn-model")
    lineage = lw.get_lineage(version.uri)
    assert lineage.run_id == train_run
    # named: the pipeline run whose step gave the model, the one that computed it, the data file
    assert [p.id for p in lineage.pipeline_runs] == [cached.run_id, first.run_id]
    assert lineage.pipeline_run is not None and lineage.pipeline_run.pipeline == "churn"
    assert [f.path for f in lineage.input_files] == [str(digits_csv)]
    assert lineage.code_version["source_name"]  # the code of the run the cache hit reused
    edges = {(e.src_type, e.src_id, e.relation, e.dst_type, e.dst_id) for e in lineage.edges}
    # the cached step run → the run that computed the model → its input frame → the steps before
    assert ("run", first.steps["train"].run_id, "reused_by", "run", train_run) in edges
    assert ("pipeline_run", cached.run_id, "contains", "run", train_run) in edges
    assert ("pipeline_run", first.run_id, "contains", "run", first.steps["load"].run_id) in edges
    split_out = first.steps["split"].outputs[0].digest
    assert ("run", first.steps["split"].run_id, "produced", "artifact", split_out) in edges
    assert ("artifact", split_out, "input_of", "run", first.steps["train"].run_id) in edges
    data_digest = first.steps["load"].inputs[0].digest
    assert ("file", data_digest, "input_of", "run", first.steps["load"].run_id) in edges
