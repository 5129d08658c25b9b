"""Issue 4 as a new user reads it: the snippet, caching, lineage, failures, Ray, tune and the CLI.

Every call below is spelled as the issue spells it (``from loopwright import step, pipeline``,
``churn.run(path="data.csv", C=0.5, executor="local")``, ``result["train"]``, ``resume=RUN_ID``,
``loopwright pipeline run module:churn --param C=0.5`` …), against real stores, a real Ray and
the ``loopwright`` command in a new process.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import issue4_flows as flows
import pandas as pd
import pytest
import yaml
from sklearn.linear_model import LogisticRegression

import loopwright as lw
from cli_process import run_cli
from loopwright import pipeline, step

HERE = Path(__file__).parent


@pytest.fixture
def data_csv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``data.csv`` in the working folder, so ``path="data.csv"`` is literally the issue's call."""
    monkeypatch.chdir(tmp_path)
    flows.write_data(tmp_path / "data.csv")
    return tmp_path / "data.csv"


# -- 1, 2, 3: the snippet, caching, tracking ---------------------------------------------------------
def test_the_snippet_runs_caches_and_tracks(lw_env: Path, data_csv: Path) -> None:
    assert lw.step is step and lw.pipeline is pipeline
    result = flows.churn.run(path="data.csv", C=0.5, executor="local")
    assert isinstance(result["train"], LogisticRegression) and result["train"].C == 0.5
    assert result.executed == ["load", "train", "evaluate"] and result.cache_hits == []
    assert result.run.status == "finished" and result.run.params == {"path": "data.csv", "C": 0.5}
    assert lw.get_pipeline_run(result.run_id).run.id == result.run_id
    # each step ran in a tracking run nested under the pipeline's; lw.log_metric in a step just works
    evaluate_run = lw.get_run(result.steps["evaluate"].run_id)  # type: ignore[arg-type]
    assert evaluate_run.parent_id == result.run_id
    assert evaluate_run.metrics["auc"] == pytest.approx(result["evaluate"]["auc"])
    assert lw.get_run(result.run_id).metrics["auc"] == pytest.approx(result["evaluate"]["auc"])
    train_run = result.steps["train"]
    assert train_run.attempts == 1 and train_run.duration is not None
    assert train_run.inputs[0].digest == result.steps["load"].outputs[0].digest

    again = flows.churn.run(path="data.csv", C=0.5, executor="local")
    assert again.executed == [] and again.cache_hits == ["load", "train", "evaluate"]
    assert again.steps["train"].cache_hit and again.steps["train"].cached_from == train_run.id
    assert again["evaluate"] == result["evaluate"]

    changed = flows.churn.run(path="data.csv", C=0.1)
    assert changed.cache_hits == ["load"] and changed.executed == ["train", "evaluate"]

    forced = flows.churn.run(path="data.csv", C=0.5, cache=False)
    assert forced.executed == ["load", "train", "evaluate"] and not forced.run.cache


def test_parameters_are_checked_against_the_type_hints(sqlite_env: Path, data_csv: Path) -> None:
    for params, message in [
        ({"path": "data.csv", "C": "abc"}, "parameter 'C' must be float, got str 'abc'"),
        ({"path": "data.csv", "C": True}, "parameter 'C' must be float, got bool True"),
        ({"path": 3, "C": 0.5}, "parameter 'path' must be str, got int 3"),
        ({"path": "data.csv", "D": 1}, "unexpected keyword argument 'D'"),
        ({"C": 0.5}, "missing a required argument: 'path'"),
    ]:
        with pytest.raises(lw.InvalidParameter, match=message) as info:
            flows.churn.run(**params)
        assert isinstance(info.value, lw.InvalidInput) and isinstance(info.value, TypeError)
    with pytest.raises(lw.InvalidInput, match="unknown executor 'spark'"):
        flows.churn.run(path="data.csv", executor="spark")
    with pytest.raises(lw.InvalidInput, match="names no host"):
        flows.churn.run(path="data.csv", executor="ray://")
    assert lw.list_pipeline_runs() == []  # nothing half-written
    assert flows.churn.run(path="data.csv", C=1).run.params["C"] == 1  # an int is a float
    # a Path parameter: a pathlib.Path reaches the step as one; text is accepted too
    by_path = flows.measure.run(path=Path("data.csv"))
    assert by_path.output == 300 and by_path.run.params == {"path": "data.csv"}
    assert flows.measure.run(path="data.csv").output == 300
    with pytest.raises(lw.InvalidInput, match=r"parameter 'path' must be pathlib\.Path, got int 3"):
        flows.measure.run(path=3)


def test_parallel_steps_in_workers_read_relative_paths_where_the_caller_is(
    sqlite_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for folder, rows in (("a", 10), ("b", 20)):  # the worker pool outlives the first folder
        (tmp_path / folder).mkdir()
        monkeypatch.chdir(tmp_path / folder)
        flows.write_data(tmp_path / folder / "data.csv", rows=rows)
        result = flows.shape.run(path="data.csv")
        assert result.output == (rows, 4) and result.executed == ["count_rows", "count_columns"]


SCRIPT = """
import time
from loopwright import step, pipeline

@step
def slow(x: int) -> int:
    time.sleep(0.2)
    return x * 2

@step
def add(a: int, b: int) -> int:
    return a + b

@pipeline
def branches(x: int = 1):
    return add(slow(x), slow(x + 1))

print("script body ran")  # once: pool workers must not re-run this script
result = branches.run(x=1, executor="local")
print("output", result.output)
"""


def test_a_plain_script_with_parallel_branches_and_no_main_guard(sqlite_env: Path, tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text(SCRIPT)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run(
        [sys.executable, "train.py"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.splitlines() == ["script body ran", "output 6"]
    run = lw.list_pipeline_runs("branches")[0]
    assert run.status == "finished" and len(lw.list_pipeline_runs()) == 1


# -- 4: failures, retries, resume -----------------------------------------------------------------------
def test_failure_names_the_step_and_resume_reruns_from_it(lw_env: Path, tmp_path: Path) -> None:
    flag = tmp_path / "flag"
    flag.write_text("up")
    with pytest.raises(
        lw.PipelineFailed, match="step 'fragile' failed: RuntimeError: the flag is up"
    ) as info:
        flows.breakable.run(x=1, flag=str(flag))
    RUN_ID = info.value.run_id
    failed = lw.get_pipeline_run(RUN_ID)
    assert failed.run.status == "failed" and "fragile" in (failed.run.error or "")
    assert {n: s.status for n, s in failed.steps.items()} == {
        "first": "done",
        "fragile": "failed",
        "last": "skipped",
    }
    assert failed.steps["fragile"].attempts == 3  # retries=2
    assert "the flag is up" in (failed.steps["fragile"].logs_tail or "")

    flag.write_text("down")
    resumed = flows.breakable.run(x=1, flag=str(flag), resume=RUN_ID)
    assert resumed.cache_hits == ["first"] and resumed.executed == ["fragile", "last"]
    assert resumed.output == 21 and resumed.run.resumed_from == RUN_ID
    with pytest.raises(lw.NotFound, match=r"pipeline run '0{32}' not found"):
        flows.breakable.run(x=1, flag=str(flag), resume="0" * 32)


def test_an_unstorable_output_names_the_type_and_the_fix(sqlite_env: Path) -> None:
    with pytest.raises(lw.PipelineFailed) as info:
        flows.unstorable.run(x=1)
    message = str(info.value)
    assert "cannot materialise a Opaque" in message or "cannot materialise an Opaque" in message
    assert "lw.register_materializer(Opaque" in message and "step 'opaque'" in message


# -- 3: lineage from a registered model back to the pipeline run and its data ---------------------
def test_registered_model_lineage_names_the_pipeline_run_and_its_data(lw_env: Path, data_csv: Path) -> None:
    first = flows.churn.run(path="data.csv", C=0.5)
    result = flows.churn.run(path="data.csv", C=0.5)  # fully cached: the lineage goes through the reuse
    version = lw.register_model(result.model_uri("train"), "churn")
    lineage = lw.get_lineage(version.uri)
    assert lineage.run_id == result.steps["train"].run_id
    assert lineage.pipeline_run is not None
    assert (lineage.pipeline_run.id, lineage.pipeline_run.pipeline) == (result.run_id, "churn")
    assert lineage.pipeline_run.params == {"path": "data.csv", "C": 0.5}
    assert [p.id for p in lineage.pipeline_runs] == [result.run_id, first.run_id]
    assert [f.path for f in lineage.input_files] == [str(data_csv)]
    assert lineage.input_files[0].digest == first.steps["load"].inputs[0].digest
    frame_digest = first.steps["load"].outputs[0].dataset_digest
    assert [(d.digest, d.n_rows) for d in lineage.datasets] == [(frame_digest, 300)]
    assert lineage.code_version["source_name"]
    shown = repr(lineage)
    assert f"pipeline 'churn' run {result.run_id}" in shown and f"input file {data_csv}" in shown
    as_dict = lineage.to_dict()
    assert as_dict["pipeline_runs"][0]["id"] == result.run_id
    assert as_dict["input_files"][0]["path"] == str(data_csv)
    # a frame passed as a parameter is the input data
    frame = pd.read_csv(data_csv).head(250)  # (all 300 rows are the bytes load wrote above)
    from_frame = flows.churn_from_frame.run(df=frame, C=0.5)
    framed = lw.get_lineage(lw.register_model(from_frame.model_uri("train"), "churn-frame").uri)
    assert framed.pipeline_run is not None and framed.pipeline_run.id == from_frame.run_id
    assert framed.pipeline_run.params["df"] == "<DataFrame>" and framed.input_files == []
    assert [(d.name, d.n_rows) for d in framed.input_datasets] == [("train.df", 250)]
    assert "input dataset train.df (250 rows" in repr(framed)
    with pytest.raises(lw.InvalidInput, match="did not return a model"):
        result.model_uri("load")
    with pytest.raises(lw.InvalidInput, match=r"got a LogisticRegression: .*result\.model_uri"):
        lw.register_model(result["train"], "churn")  # the object, not its URI


# -- 6: tune, with the pipeline's other parameters as plain keywords ----------------------------------
def test_tune_takes_fixed_parameters_as_keywords(sqlite_env: Path, data_csv: Path) -> None:
    found = lw.tune(
        flows.churn,
        space={"C": lw.loguniform(1e-3, 10)},
        metric="auc",
        mode="max",
        trials=6,
        path="data.csv",
    )
    assert len(found.trials) == 6 and 1e-3 <= found.best_params["C"] <= 10
    assert found.best_value == max(t.value for t in found.trials if t.value is not None)
    assert found.best_run.metrics["auc"] == found.best_value
    trial_runs = lw.list_child_runs(found.run_id)
    assert {r.id for r in trial_runs} == {t.run_id for t in found.trials}
    assert all(r.params["path"] == "data.csv" for r in trial_runs)
    space = {"C": lw.loguniform(1e-3, 10)}
    for kwargs, message in [
        ({}, r"needs parameters \['path'\]"),
        ({"path": 3}, "parameter 'path' must be str"),
        ({"path": "data.csv", "C": 1.0}, "both searched"),
        ({"path": "data.csv", "D": 1.0}, r"has no parameters \['D'\]"),
        ({"path": "data.csv", "executor": "spark"}, "unknown executor 'spark'"),
    ]:
        with pytest.raises(lw.InvalidInput, match=message):
            lw.tune(flows.churn, space=space, metric="auc", mode="max", trials=2, **kwargs)
    # a bad call fails before it starts a tune run
    assert [r.name for r in lw.search_runs("churn", output="list")].count("tune-churn") == 1


# -- 5: the same pipeline on a real Ray, and tune on Ray -------------------------------------------
@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    import ray

    with pytest.MonkeyPatch.context() as env:  # restored after the module: no leak into later files
        env.setenv("RAY_AUTH_MODE", "disabled")
        ray.init(num_cpus=2, include_dashboard=False, ignore_reinit_error=True)
        yield
        ray.shutdown()


def test_ray_executor_tune_and_cli(sqlite_env: Path, data_csv: Path, local_ray: None) -> None:
    on_ray = flows.churn.run(path="data.csv", C=0.5, executor="ray")
    assert on_ray.run.executor == "ray" and on_ray.executed == ["load", "train", "evaluate"]
    local = flows.churn.run(path="data.csv", C=0.5, executor="local", cache=False)
    assert on_ray.digests("load") == local.digests("load")
    assert on_ray.digests("evaluate") == local.digests("evaluate")
    found = lw.tune(
        flows.churn,
        space={"C": lw.loguniform(1e-3, 10)},
        metric="auc",
        mode="max",
        trials=3,
        executor="ray",
        path="data.csv",
    )
    assert found.best_run.metrics["auc"] == found.best_value
    assert all(lw.get_pipeline_run(t.run_id).run.executor == "ray" for t in found.trials)
    # the CLI's --executor ray, in this process (it joins the Ray already running)
    shutil.copy(HERE / "issue4_flows.py", data_csv.parent / "churn_ray.py")
    out = invoke(
        "pipeline", "run", "churn_ray:churn", "-p", "C=0.5", "-p", "path=data.csv", "--executor", "ray"
    )
    assert "finished in" in out and "3 executed" in out  # another module: its own cache keys
    assert lw.list_pipeline_runs("churn")[0].executor == "ray"


# -- 7, 8: the CLI in a new process, from the user's folder -------------------------------------------
def loopwright(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, cwd=cwd)


def invoke(*args: str) -> str:
    from typer.testing import CliRunner

    from loopwright.cli.main import app

    result = CliRunner().invoke(app, list(args), env={"COLUMNS": "200"}, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture
def project(sqlite_env: Path, data_csv: Path) -> Path:
    """A user's folder: ``churn_pipeline.py`` (the snippet) and ``data.csv``."""
    shutil.copy(HERE / "issue4_flows.py", data_csv.parent / "churn_pipeline.py")
    return data_csv.parent


def test_cli_run_runs_show_and_compile(project: Path) -> None:
    ref = "churn_pipeline:churn"
    first = loopwright(project, "pipeline", "run", ref, "--param", "C=0.5", "--param", "path=data.csv")
    assert first.returncode == 0, first.stderr
    assert "3 executed, 0 cached" in first.stdout
    for node in ("load", "train", "evaluate"):
        assert node in first.stdout
    run = lw.list_pipeline_runs("churn")[0]
    assert run.params == {"C": 0.5, "path": "data.csv"}  # C converted to float by the hint

    # the rest in this process (quicker; the new process above proved the command line itself)
    cached = invoke("pipeline", "run", ref, "--param", "C=0.5", "--param", "path=data.csv")
    assert "0 executed, 3 cached" in cached and "│ cached" in cached
    forced = invoke("pipeline", "run", ref, "-p", "C=0.5", "-p", "path=data.csv", "--no-cache")
    assert "3 executed, 0 cached" in forced

    runs = invoke("pipeline", "runs", "--full-ids")
    assert run.id in runs and "churn" in runs
    show = invoke("pipeline", "show", run.id)
    assert "churn finished" in show
    for line in ("load done", "train done", "evaluate done"):
        assert line in show
    assert "(from step run" in invoke("pipeline", "show", lw.list_pipeline_runs("churn")[1].id)

    compiled = loopwright(project, "pipeline", "compile", ref, "--target", "kfp", "-o", "churn.yaml")
    assert compiled.returncode == 0, compiled.stderr
    spec = yaml.safe_load((project / "churn.yaml").read_text())
    assert spec["pipelineInfo"]["name"] == "churn"
    assert set(spec["components"]) == {"comp-load", "comp-train", "comp-evaluate"}
    tasks = spec["root"]["dag"]["tasks"]
    assert tasks["train"]["dependentTasks"] == ["load"]
    assert sorted(tasks["evaluate"]["dependentTasks"]) == ["load", "train"]
    assert set(spec["root"]["inputDefinitions"]["parameters"]) == {"path", "C"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["run", "churn_pipeline:churn", "--param", "C=abc", "-p", "path=data.csv"],
            "parameter 'C' must be float, got 'abc'",
        ),
        (["run", "churn_pipeline:churn", "--param", "D=1"], "pipeline 'churn' has no parameter 'D'"),
        (["run", "churn_pipeline:churn", "--param", "C=0.5"], "missing a required argument: 'path'"),
        (["run", "no_such_module:churn", "-p", "C=0.5"], "cannot import 'no_such_module'"),
        (["run", "churn_pipeline:nope"], "'churn_pipeline' has no attribute 'nope'"),
        (["run", "churn_pipeline:load"], "'churn_pipeline:load' is not a @pipeline (got Step)"),
        (["run", "churn_pipeline", "-p", "C=0.5"], "must look like module:name"),
        (
            ["run", "churn_pipeline:churn", "-p", "path=data.csv", "--executor", "spark"],
            "unknown executor 'spark'",
        ),
        (
            ["run", "churn_pipeline:churn", "-p", "path=data.csv", "--resume", "f" * 32],
            f"pipeline run '{'f' * 32}' not found",
        ),
        (["show", "f" * 32], f"pipeline run '{'f' * 32}' not found"),
        (
            ["run", "churn_pipeline:tagged", "-p", "tags=x"],
            "parameter 'tags' must be list[str] | None, got 'x'",
        ),
        (
            ["compile", "churn_pipeline:churn", "--target", "argo", "-o", "x.yaml"],
            "unknown compile target 'argo'",
        ),
    ],
)
def test_cli_bad_input_is_one_line(project: Path, args: list[str], message: str) -> None:
    done = loopwright(project, "pipeline", *args)
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stderr.strip() == f"error: {message}" or (
        done.stderr.count("\n") == 1 and message in done.stderr
    ), done.stderr
    assert done.stdout == ""  # no board of pending steps, no traceback
    assert lw.list_pipeline_runs() == [] and not (project / "x.yaml").exists()


def test_cli_failed_step_and_unstorable_output(project: Path) -> None:
    flag = project / "flag"
    flag.write_text("up")
    failed = loopwright(
        project, "pipeline", "run", "churn_pipeline:breakable", "-p", "x=1", "-p", "flag=flag"
    )
    assert failed.returncode == 1
    assert (
        failed.stderr.count("\n") == 1
        and "step 'fragile' failed: RuntimeError: the flag is up" in failed.stderr
    )
    assert "skipped" in failed.stdout
    RUN_ID = lw.list_pipeline_runs("breakable")[0].id
    flag.write_text("down")
    resumed = invoke("pipeline", "run", "churn_pipeline:breakable", "--resume", RUN_ID)
    assert "2 executed, 1 cached" in resumed
    bad = loopwright(project, "pipeline", "run", "churn_pipeline:unstorable")
    assert bad.returncode == 1 and bad.stderr.count("\n") == 1
    assert "Opaque" in bad.stderr and "lw.register_materializer(Opaque" in bad.stderr
