"""Issue 12 item 7, KFP fidelity: the real kfp compiler, the spec loaded back with kfp's loaders,
and the compiled commands run as the pods would (``loopwright pipeline exec-step``)."""

from __future__ import annotations

import re
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import kfp_flows as flows
import yaml
from google.protobuf import json_format
from kfp import components
from typer.testing import CliRunner

import loopwright as lw
from cli_process import run_cli
from loopwright.cli.main import app

HERE = Path(__file__).parent
PASSWORD = "s3cr3t-pw"
STORE = f"postgresql+psycopg://ml:{PASSWORD}@db.internal/lw"


def invoke(*args: str, ok: bool = True) -> str:
    """Run a command in this process; with ``ok=False`` it must fail, and its error is returned."""
    result = CliRunner().invoke(app, list(args), env={"COLUMNS": "200"})
    assert (result.exit_code == 0) is ok, result.output
    return result.output if ok else str(result.exception)


def compile_spec(tmp_path: Path, ref: str, *extra: str) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """Compile ``ref``; return the YAML text, the pipeline spec and the platform spec (or {})."""
    target = tmp_path / "spec.yaml"
    invoke("pipeline", "compile", ref, "-o", str(target), *extra)
    text = target.read_text()
    # kfp's own loader reads the compiled spec back (as a component of other pipelines)
    assert components.load_component_from_text(text).name == ref.split(":")[1]
    docs = list(yaml.safe_load_all(text))
    return text, docs[0], docs[1] if len(docs) > 1 else {}


def test_kfp_cache_is_off_and_step_options_become_retry_policy_and_resources(
    sqlite_env: Path, tmp_path: Path
) -> None:
    text, spec, _ = compile_spec(tmp_path, "kfp_flows:lines")
    tasks = spec["root"]["dag"]["tasks"]
    assert set(tasks) == {"count-lines", "double"}
    # KFP's cache keys on input values (a path), not on the file's content: it is off everywhere
    assert "enableCache: true" not in text
    assert all(not task.get("cachingOptions", {}).get("enableCache") for task in tasks.values())
    # @step(retries=2, retry_delay=3, backoff=3.0) → the task's retry policy; none without retries
    assert tasks["double"]["retryPolicy"] == {
        "maxRetryCount": 2,
        "backoffDuration": "3s",
        "backoffFactor": 3.0,
        "backoffMaxDuration": "3600s",
    }
    assert "retryPolicy" not in tasks["count-lines"]
    # resources={"num_cpus": 2, "memory": 2**30, "num_gpus": 1} → requests, limits, accelerator
    executors = spec["deploymentSpec"]["executors"]
    resources = executors["exec-double"]["container"]["resources"]
    assert resources["resourceCpuRequest"] == resources["resourceCpuLimit"] == "2"
    assert resources["resourceMemoryRequest"] == resources["resourceMemoryLimit"] == str(2**30)
    assert resources["accelerator"]["resourceType"] == "nvidia.com/gpu"
    assert resources["accelerator"]["resourceCount"] == "1"
    assert "resources" not in executors["exec-count-lines"]["container"]
    # every pod is told its KFP run id, so the run's steps share one pipeline run
    command = executors["exec-double"]["container"]["command"]
    assert command[5:7] == ["--kfp-run", "{{$.pipeline_job_uuid}}"]


def test_store_password_is_read_from_a_kubernetes_secret(sqlite_env: Path, tmp_path: Path) -> None:
    out = invoke(
        "pipeline", "compile", "kfp_flows:lines", "-o", str(tmp_path / "spec.yaml"),
        "--env", f"LOOPWRIGHT_STORE_URI={STORE}",
        "--env", "LOOPWRIGHT_ARTIFACT_URI=s3://models/lw",
        "--env", "AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI",
        "--secret", "lw-store",
        "--secret-env", "AWS_ACCESS_KEY_ID",
    )  # fmt: skip
    assert "kubectl create secret generic lw-store" in out and PASSWORD not in out
    text = (tmp_path / "spec.yaml").read_text()
    assert PASSWORD not in text and "wJalrXUtnFEMI" not in text
    spec, platform = list(yaml.safe_load_all(text))
    # kfp's loader keeps the Secret references (the platform spec KFP hands to Kubernetes)
    loaded = json_format.MessageToDict(components.load_component_from_text(text).platform_spec)
    assert loaded == platform
    wanted = {"LOOPWRIGHT_STORE_URI", "AWS_SECRET_ACCESS_KEY", "AWS_ACCESS_KEY_ID"}
    for name in ("exec-count-lines", "exec-double"):
        container = spec["deploymentSpec"]["executors"][name]["container"]
        # the plain artifact URI stays a plain value
        assert container["env"] == [{"name": "LOOPWRIGHT_ARTIFACT_URI", "value": "s3://models/lw"}]
        (secret,) = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"][name]["secretAsEnv"]
        assert secret["secretName"] == "lw-store"
        assert {(k["secretKey"], k["envVar"]) for k in secret["keyToEnv"]} == {(n, n) for n in wanted}
    # the same from Python: a URI with a password never lands in the spec
    lw.compile_pipeline(flows.lines, tmp_path / "py.yaml", env={"LOOPWRIGHT_STORE_URI": STORE})
    assert PASSWORD not in (tmp_path / "py.yaml").read_text()


def test_exec_step_pods_of_one_kfp_run_record_one_pipeline_run(sqlite_env: Path, tmp_path: Path) -> None:
    _, spec, _ = compile_spec(tmp_path, "kfp_flows:lines")
    executors = spec["deploymentSpec"]["executors"]
    data = tmp_path / "data.txt"
    data.write_text("a\nb\nc\n")

    def pod(node: str, kfp_run: str, inputs: dict[str, str]) -> str:
        out = tmp_path / f"{node}.{kfp_run}.out"
        command = _fill(executors[f"exec-{node}"]["container"]["command"], inputs, out, kfp_run)
        done = run_cli(*command[1:], env={"LOOPWRIGHT_HOME": str(sqlite_env)}, cwd=HERE)
        assert done.returncode == 0, done.stderr
        return out.read_text()

    counted = pod("count-lines", "run-a", {"in_path": str(data)})
    pod("double", "run-a", {"in_n": counted})
    (run,) = lw.list_pipeline_runs("lines")
    assert run.status == "finished" and run.executor == "kfp"
    assert [(s.node, s.status) for s in run.steps] == [("count_lines", "done"), ("double", "done")]
    assert run.params == {"path": str(data)}

    # a second KFP run: the file changed under the same path, so the step runs again
    data.write_text("a\nb\nc\nd\n")
    counted_b = _invoke_pod(executors, "count-lines", "run-b", {"in_path": str(data)}, tmp_path)
    assert counted_b != counted
    # a third with the same content: Loopwright's content cache answers
    counted_c = _invoke_pod(executors, "count-lines", "run-c", {"in_path": str(data)}, tmp_path)
    assert counted_c == counted_b
    runs = {r.steps[0].status for r in lw.list_pipeline_runs("lines") if r.id != run.id}
    assert runs == {"done", "cached"}


def test_two_first_steps_starting_at_once_join_one_pipeline_run(sqlite_env: Path, tmp_path: Path) -> None:
    _, spec, _ = compile_spec(tmp_path, "kfp_flows:squares")
    executors = spec["deploymentSpec"]["executors"]
    roots = [n for n, t in spec["root"]["dag"]["tasks"].items() if not t.get("dependentTasks")]
    assert sorted(roots) == ["square", "square-2"]

    def pod(node: str, inputs: dict[str, str]) -> subprocess.CompletedProcess[str]:
        command = _fill(executors[f"exec-{node}"]["container"]["command"], inputs, tmp_path / node, "run-x")
        return run_cli(*command[1:], env={"LOOPWRIGHT_HOME": str(sqlite_env)}, cwd=HERE)

    # KFP starts both roots together: each may create the run before it sees the other's
    with ThreadPoolExecutor(2) as pool:
        done = list(pool.map(pod, roots, [{"in_x": "2"}, {"in_x": "3"}]))
    assert all(d.returncode == 0 for d in done), [d.stderr for d in done]
    pod("total", {"in_a": (tmp_path / "square").read_text(), "in_b": (tmp_path / "square-2").read_text()})
    kept = [r for r in lw.list_pipeline_runs("squares") if lw.get_run(r.id).lifecycle == "active"]
    assert len(kept) == 1 and kept[0].status == "finished"
    assert sorted(s.status for s in kept[0].steps) == ["done", "done", "done"]


def test_a_failing_step_fails_the_pipeline_run_on_its_last_kfp_attempt(
    sqlite_env: Path, tmp_path: Path
) -> None:
    _, spec, _ = compile_spec(tmp_path, "kfp_flows:guarded")
    executors = spec["deploymentSpec"]["executors"]
    assert spec["root"]["dag"]["tasks"]["check"]["retryPolicy"]["maxRetryCount"] == 1
    data = tmp_path / "data.txt"
    data.write_text("a\nb\nc\n")
    counted = _invoke_pod(executors, "count-lines", "run-f", {"in_path": str(data)}, tmp_path)
    check = _fill(executors["exec-check"]["container"]["command"], {"in_n": counted, "in_limit": "1"},
                  tmp_path / "check.out", "run-f")  # fmt: skip
    # first attempt: one attempt only (KFP owns the retries); the run waits for KFP's retry
    assert "3 lines is over 1" in invoke(*check[1:], ok=False)
    (run,) = lw.list_pipeline_runs("guarded")
    steps = {s.node: s for s in run.steps}
    assert run.status == "running" and steps["check"].status == "failed" and steps["check"].attempts == 1
    assert steps["double"].status == "pending"
    # KFP's retry is the last attempt: the run fails and the step below is skipped
    assert "3 lines is over 1" in invoke(*check[1:], ok=False)
    (run,) = lw.list_pipeline_runs("guarded")
    steps = {s.node: s for s in run.steps}
    assert run.status == "failed" and "step 'check' failed" in (run.error or "")
    assert steps["check"].attempts == 2 and steps["double"].status == "skipped"


def _invoke_pod(executors: dict[str, Any], node: str, kfp_run: str, inputs: dict[str, str], tmp: Path) -> str:
    out = tmp / f"{node}.{kfp_run}.out"
    invoke(*_fill(executors[f"exec-{node}"]["container"]["command"], inputs, out, kfp_run)[1:])
    return out.read_text()


def _fill(command: list[str], inputs: dict[str, str], output: Path, kfp_run: str) -> list[str]:
    """The command as KFP's launcher runs it: placeholders replaced by values."""
    out = []
    for part in command:
        match = re.fullmatch(r"\{\{\$\.inputs\.parameters\['(\w+)'\]\}\}", part)
        if match:
            part = inputs[match.group(1)]
        elif "outputs.parameters" in part:
            part = str(output)
        elif part == "{{$.pipeline_job_uuid}}":
            part = kfp_run
        out.append(part)
    return out
