"""``loopwright pipeline run|runs|show|compile`` and the KFP v2 export, run for real."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pipeline_flows as flows
import yaml
from typer.testing import CliRunner

import loopwright as lw
from cli_process import run_cli
from loopwright.cli.main import app

HERE = Path(__file__).parent


def cli(home: Path, *args: str, cwd: Path = HERE) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, env={"LOOPWRIGHT_HOME": str(home)}, cwd=cwd)


def invoke(*args: str) -> str:
    """Run a command in this process (fast); exit codes of errors are checked with :func:`cli`."""
    result = CliRunner().invoke(app, list(args), env={"COLUMNS": "200"}, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_run_runs_and_show(sqlite_env: Path, tmp_path: Path) -> None:
    data = flows.write_digits_csv(tmp_path / "digits.csv")
    first = cli(
        sqlite_env, "pipeline", "run", "pipeline_flows:churn", "--param", f"path={data}", "--param", "C=0.5"
    )
    assert first.returncode == 0, first.stderr
    assert "4 executed, 0 cached" in first.stdout
    for node in ("load", "split", "train", "evaluate"):
        assert node in first.stdout
    again = invoke("pipeline", "run", "pipeline_flows:churn", "-p", f"path={data}", "-p", "C=0.5")
    assert "0 executed, 4 cached" in again and "cached" in again
    forced = invoke(
        "pipeline", "run", "pipeline_flows:churn", "-p", f"path={data}", "-p", "C=0.5", "--no-cache"
    )
    assert "4 executed, 0 cached" in forced

    runs = lw.list_pipeline_runs("churn")
    assert len(runs) == 3 and runs[1].params == {"path": str(data), "C": 0.5}
    listed = invoke("pipeline", "runs", "--full-ids")  # tables show a unique prefix unless asked
    assert all(r.id in listed for r in runs)
    shown = invoke("pipeline", "show", runs[1].id)
    # the DAG as a tree: evaluate hangs under train, which hangs under split, under load
    lines = shown.splitlines()
    tree = [line for line in lines if re.search(r"(load|split|train|evaluate) cached", line)]
    assert len(tree) == 4
    indents = [len(line) - len(line.lstrip(" │├└─")) for line in tree]
    assert indents == sorted(indents) and len(set(indents)) == 4
    assert "also after split" in shown


def test_failed_run_in_cli_names_the_step(sqlite_env: Path, tmp_path: Path) -> None:
    flag = tmp_path / "flag"
    flag.write_text("up")
    failed = cli(sqlite_env, "pipeline", "run", "pipeline_flows:breakable", "-p", "x=1", "-p", f"flag={flag}")
    assert failed.returncode == 1
    assert "step 'fragile' failed: RuntimeError: flag flag is up" in failed.stderr
    assert "skipped" in failed.stdout and "failed" in failed.stdout
    failed_run = lw.list_pipeline_runs("breakable")[0]
    shown = invoke("pipeline", "show", failed_run.id)
    assert "fragile: logs (tail)" in shown and "RuntimeError: flag flag is up" in shown
    bad = cli(sqlite_env, "pipeline", "run", "pipeline_flows:churn", "-p", "C=abc", "-p", "path=x")
    assert bad.returncode == 1 and "parameter 'C' must be float" in bad.stderr


def test_compile_to_kfp_v2(sqlite_env: Path, tmp_path: Path) -> None:
    target = tmp_path / "churn.yaml"
    assert "4 components" in invoke(
        "pipeline", "compile", "pipeline_flows:churn", "--target", "kfp", "-o", str(target)
    )
    spec = yaml.safe_load(target.read_text())
    assert spec["pipelineInfo"]["name"] == "churn" and spec["schemaVersion"].startswith("2.")
    # one component per step, each a container running that step
    assert set(spec["components"]) == {"comp-load", "comp-split", "comp-train", "comp-evaluate"}
    executors = spec["deploymentSpec"]["executors"]
    command = executors["exec-train"]["container"]["command"]
    assert command[:5] == ["loopwright", "pipeline", "exec-step", "pipeline_flows:churn", "train"]
    # pipeline parameters are typed KFP inputs with their defaults
    inputs = spec["root"]["inputDefinitions"]["parameters"]
    assert inputs["C"] == {"defaultValue": 1.0, "isOptional": True, "parameterType": "NUMBER_DOUBLE"}
    assert inputs["path"]["parameterType"] == "STRING"
    # the DAG: data flow becomes task dependencies and output→input wiring
    tasks = spec["root"]["dag"]["tasks"]
    assert tasks["train"]["dependentTasks"] == ["split"]
    assert sorted(tasks["evaluate"]["dependentTasks"]) == ["split", "train"]
    assert tasks["train"]["inputs"]["parameters"]["in_c"] == {"componentInputParameter": "C"}
    assert tasks["train"]["inputs"]["parameters"]["in_df"]["taskOutputParameter"]["producerTask"] == "split"

    # the components really run: execute load then split the way a KFP pod would
    data = flows.write_digits_csv(tmp_path / "digits.csv")
    load_out, split_out = tmp_path / "load.out", tmp_path / "split.out"
    load_cmd = _fill(executors["exec-load"]["container"]["command"], {"in_path": str(data)}, load_out)
    invoke(*load_cmd[1:])
    split_cmd = _fill(
        executors["exec-split"]["container"]["command"],
        {"in_df": load_out.read_text(), "in_seed": "0"},
        split_out,
    )
    invoke(*split_cmd[1:])
    local = flows.churn.run(path=str(data))
    assert [o["digest"] for o in yaml.safe_load(split_out.read_text())] == local.digests("split")


def _fill(command: list[str], inputs: dict[str, str], output: Path) -> list[str]:
    out = []
    for part in command:
        match = re.fullmatch(r"\{\{\$\.inputs\.parameters\['(\w+)'\]\}\}", part)
        if match:
            part = inputs[match.group(1)]
        elif "outputs.parameters" in part:
            part = str(output)
        out.append(part)
    return out
