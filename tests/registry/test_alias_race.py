"""Two processes move one alias at the same moment: one winner, two audit entries, both backends."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import loopwright as lw

MOVER = textwrap.dedent(
    """
    import os, sys, time
    import loopwright as lw
    version, go = int(sys.argv[1]), sys.argv[2]
    lw.get_registered_model("churn")  # connect (and warm up) before the start signal
    print("ready", flush=True)
    while not os.path.exists(go):
        time.sleep(0.0005)
    mv = lw.set_alias("churn", "champion", version)
    print(mv.version, flush=True)
    """
)


def test_two_processes_race_for_one_alias(package_run: Callable[..., str], lw_env: Path) -> None:
    run_id = package_run()
    lw.register_model(f"runs:/{run_id}/model", "churn")
    lw.register_model(f"runs:/{run_id}/model", "churn")
    go = lw_env / "go"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", MOVER, str(version), str(go)],
            env={**os.environ, "LOOPWRIGHT_USER": f"mover-{version}"},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for version in (1, 2)
    ]
    for proc in procs:  # both are connected and spinning: release them together
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    go.touch()
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        results.append(int(out.strip()))
    assert sorted(results) == [1, 2]  # both calls succeeded

    moves = [e for e in lw.list_audit_log("churn") if e.entity == "alias"]
    assert len(moves) == 2
    first, second = moves
    assert first.action == "alias_set" and first.before is None
    assert second.action == "alias_moved" and second.before == first.after
    assert {first.actor, second.actor} == {"mover-1", "mover-2"}
    winner = lw.get_model_version_by_alias("churn", "champion")
    assert winner.version == second.after["version"]  # exactly one final value: the later move
    assert lw.get_registered_model("churn").aliases == {"champion": winner.version}
    assert [v.version for v in lw.search_model_versions("alias = 'champion'")] == [winner.version]
