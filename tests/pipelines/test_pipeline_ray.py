"""Real Ray in local mode: same outputs as the local executor, resources, joining by address, tune."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pipeline_flows as flows
import pytest
import ray

import loopwright as lw


@pytest.fixture(scope="module", autouse=True)
def ray_session() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as env:  # restored after the module: no leak into later files
        env.setenv("RAY_AUTH_MODE", "disabled")
        ray.init(num_cpus=2, include_dashboard=False, ignore_reinit_error=True)
        yield
        ray.shutdown()


@pytest.fixture(scope="module")
def digits_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return flows.write_digits_csv(tmp_path_factory.mktemp("data") / "digits.csv")


def test_same_outputs_on_ray_and_local(sqlite_env: Path, digits_csv: Path) -> None:
    on_ray = flows.churn.run(path=str(digits_csv), C=0.5, executor="ray")
    assert on_ray.run.executor == "ray" and on_ray.executed == ["load", "split", "train", "evaluate"]
    local = flows.churn.run(path=str(digits_csv), C=0.5, executor="local", cache=False)
    for node in ("load", "split", "evaluate"):
        assert on_ray.digests(node) == local.digests(node), node
    # a model package's manifest names its run, so its digest is per run; the model itself is equal
    assert on_ray["train"].coef_.tolist() == local["train"].coef_.tolist()
    # steps ran in Ray workers, inside tracking runs nested under the pipeline run
    child = lw.get_run(on_ray.steps["evaluate"].run_id)  # type: ignore[arg-type]
    assert child.parent_id == on_ray.run_id and child.metrics["auc"] == pytest.approx(
        on_ray["evaluate"]["auc"]
    )
    # and a rerun on Ray is fully cached
    assert flows.churn.run(path=str(digits_csv), C=0.5, executor="ray").executed == []


def test_parallel_branches_and_failures_on_ray(sqlite_env: Path, tmp_path: Path) -> None:
    # (overlap in time is proven on the local executor; a cold Ray worker may start late)
    result = flows.branches.run(seconds=0.2, executor="ray")
    assert [t.split(":")[0] for t in result.output] == ["left", "right"]
    assert all(s.status == "done" for s in result.steps.values())
    flag = tmp_path / "flag"
    flag.write_text("x")
    with pytest.raises(lw.PipelineFailed, match="fragile"):
        flows.breakable.run(x=1, flag=str(flag), executor="ray")


def test_joining_a_running_cluster_by_address(sqlite_env: Path) -> None:
    address = ray.get_runtime_context().gcs_address
    script = textwrap.dedent(
        f"""
        import pipeline_flows as flows
        result = flows.diamond.run(a=1, b=10, address={address!r})
        print(result.run.executor, result.output)
        """
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), *sys.path])}
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == f"ray:{address} 14"


def test_an_address_other_than_the_joined_one_is_refused(sqlite_env: Path) -> None:
    """ray.init would keep this process's connection and run elsewhere than asked: say so instead."""
    address = ray.get_runtime_context().gcs_address
    with pytest.raises(lw.InvalidInput, match="already initialised"):
        flows.diamond.run(a=1, b=10, address="127.0.0.1:1")
    assert flows.diamond.run(a=1, b=10, address=address).output == 14  # the joined one is fine


def test_tune_finds_a_better_C_than_the_default(sqlite_env: Path, digits_csv: Path) -> None:
    default = flows.churn.run(path=str(digits_csv))
    default_auc = default["evaluate"]["auc"]
    found = lw.tune(
        flows.churn,
        space={"C": lw.loguniform(1e-3, 10)},
        metric="auc",
        mode="max",
        trials=8,
        executor="ray",
        params={"path": str(digits_csv)},
        parallel=2,
    )
    assert len(found.trials) == 8 and found.best_value > default_auc
    assert found.best_params["C"] != 1.0 and found.best_run.metrics["auc"] == found.best_value
    # each trial is a tracked child run of the tune run; load and split ran once for all of them
    trial_runs = lw.list_child_runs(found.run_id)
    assert {r.id for r in trial_runs} == {t.run_id for t in found.trials}
    assert all(r.params["path"] == str(digits_csv) for r in trial_runs)
    assert all(lw.get_pipeline_run(t.run_id).steps["load"].cache_hit for t in found.trials)
    tune_run = lw.get_run(found.run_id)
    assert tune_run.status == "finished" and tune_run.metrics["best_auc"] == found.best_value
    with pytest.raises(lw.InvalidInput, match="no parameters"):
        lw.tune(flows.churn, space={"gamma": lw.uniform(0, 1)}, metric="auc")
