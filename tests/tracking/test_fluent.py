"""The MLflow-shaped API end to end on both stores."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import loopwright as lw


def test_issue_example(lw_env: Path, tmp_path: Path) -> None:
    report = tmp_path / "report.html"
    report.write_text("<h1>ok</h1>")
    df = pd.DataFrame({"x": np.arange(10), "y": list("abcdefghij")})
    lw.set_experiment("churn")
    with lw.start_run(name="baseline", tags={"team": "risk"}) as run:
        assert lw.active_run() is run
        lw.log_params({"C": 1.0, "penalty": "l2"})
        lw.log_param("seed", 7)
        lw.log_metric("auc", 0.91, step=3)
        lw.log_metrics({"acc": 0.88, "f1": 0.80})
        lw.log_artifact(str(report))
        lw.log_dict({"threshold": 0.4}, "config.json")
        dataset = lw.log_dataset(df, name="train")
    assert lw.active_run() is None
    got = lw.get_run(run.id)
    assert got.id == run.id and got.name == "baseline" and got.status == "finished"
    assert got.params == {"C": "1.0", "penalty": "l2", "seed": "7"}
    assert got.metrics == {"auc": 0.91, "acc": 0.88, "f1": 0.80}
    assert got.tags == {"team": "risk"} and got.parent_id is None
    assert got.system_tags["loopwright.source.name"]  # the code version lives apart from user tags
    assert got.start_time <= got.end_time  # type: ignore[operator]
    assert got.experiment_id == lw.get_experiment("churn").id
    assert [p.step for p in lw.list_metric_history(run.id, "auc")] == [3]
    assert lw.load_dict(run.id, "config.json") == {"threshold": 0.4}
    assert {a.path for a in lw.list_artifacts(run.id)} == {"report.html", "config.json"}
    assert dataset.n_rows == 10 and dataset.schema["x"] == "int64"
    assert lw.get_client().get_dataset_inputs(run.id) == [dataset]

    frame = lw.search_runs(
        experiment="churn",
        filter="metrics.auc > 0.9 and params.penalty = 'l2'",
        order_by=["metrics.auc DESC"],
        max_results=50,
    )
    assert isinstance(frame, pd.DataFrame)
    assert list(frame["run_id"]) == [run.id]
    for column in ("run_id", "name", "status", "params.C", "metrics.auc", "tags.team"):
        assert column in frame.columns
    listed = lw.search_runs(experiment="churn", output="list")
    assert isinstance(listed, list) and listed[0].id == run.id


def test_failed_run_records_error_and_keeps_metrics(lw_env: Path) -> None:
    with pytest.raises(ZeroDivisionError), lw.start_run(name="crash") as run:
        for step in range(100):
            lw.log_metric("loss", 1 / (step + 1), step=step)
        _ = 1 / 0
    got = lw.get_run(run.id)
    assert got.status == "failed" and "ZeroDivisionError" in (got.error or "")
    assert len(lw.list_metric_history(run.id, "loss")) == 100


def test_nested_runs(lw_env: Path) -> None:
    with lw.start_run(name="parent") as parent:
        with pytest.raises(lw.Conflict, match="nested=True"):
            lw.start_run()
        with lw.start_run(name="child", nested=True) as child:
            lw.log_metric("x", 1)
        assert lw.active_run() is parent
    assert lw.get_run(child.id).parent_id == parent.id
    assert [r.id for r in lw.list_child_runs(parent.id)] == [child.id]


def test_closed_run_and_bad_values(lw_env: Path) -> None:
    with lw.start_run() as run:
        with pytest.raises(lw.InvalidInput, match="must be a number"):
            lw.log_metric("auc", "high")  # type: ignore[arg-type]
        with pytest.raises(lw.InvalidInput, match="step must be an integer"):
            lw.log_metric("auc", 0.1, step=1.5)  # type: ignore[arg-type]
        with pytest.raises(lw.InvalidInput, match="metric key"):
            lw.log_metric("../etc", 0.1)
        with pytest.raises(lw.InvalidInput, match="mapping"):
            lw.log_params([("C", 1)])  # type: ignore[arg-type]
        lw.log_param("C", 1)
        with pytest.raises(lw.Conflict, match="immutable"):
            lw.log_param("C", 2)
        with pytest.raises(lw.InvalidInput, match="artifact path"):
            lw.log_dict({}, "../escape.json")
        with pytest.raises(lw.InvalidInput, match="artifact path"):
            lw.log_text("x", "/abs/path.txt")
    with pytest.raises(lw.Conflict, match="finished"):
        lw.log_metric("auc", 0.5, run_id=run.id)
    with pytest.raises(lw.Conflict, match="no active run"):
        lw.log_metric("auc", 0.5)
    with pytest.raises(lw.NotFound):
        lw.get_run("f" * 32)


def test_log_artifact_folder(lw_env: Path, tmp_path: Path) -> None:
    folder = tmp_path / "plots"
    (folder / "sub").mkdir(parents=True)
    (folder / "roc.png").write_bytes(b"png")
    (folder / "sub" / "pr.png").write_bytes(b"png2")
    with lw.start_run() as run:
        lw.log_artifact(folder)
    assert [a.path for a in lw.list_artifacts(run.id)] == ["plots/roc.png", "plots/sub/pr.png"]
    out = lw.download_artifacts(run.id, "plots", tmp_path / "dl")
    assert (out / "sub" / "pr.png").read_bytes() == b"png2"


def test_delete_restore_gc_and_name_reuse(lw_env: Path, tmp_path: Path) -> None:
    blob_file = tmp_path / "model.bin"
    blob_file.write_bytes(b"weights" * 100)
    lw.set_experiment("churn")
    with lw.start_run() as keep:
        lw.log_text("kept", "notes.txt")
    with lw.start_run() as gone:
        lw.log_artifact(blob_file)
    lw.delete_run(gone.id)
    frame = lw.search_runs(experiment="churn")
    assert list(frame["run_id"]) == [keep.id]
    lw.restore_run(gone.id)
    assert len(lw.search_runs(experiment="churn")) == 2
    lw.delete_run(gone.id)
    report = lw.gc()
    assert report.runs == 1 and report.blobs == 1 and report.bytes == 700
    assert lw.load_text(keep.id, "notes.txt") == "kept"
    lw.delete_experiment("churn")
    with pytest.raises(lw.Conflict, match="deleted"):
        lw.set_experiment("churn")
    lw.restore_experiment("churn")
    lw.set_experiment("churn")
    lw.delete_experiment("churn")
    lw.gc()
    assert lw.set_experiment("churn").id != keep.experiment_id  # the name is free again
