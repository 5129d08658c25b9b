"""The private folder of a model loaded by a process killed with SIGKILL is removed by the next process
that loads a model; folders of live processes, other pid spaces and unknown owners are left alone."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression

import loopwright as lw

LOAD_AND_WAIT = textwrap.dedent(
    """
    import sys, time
    import loopwright as lw
    model = lw.load_model(sys.argv[1])
    print("loaded", flush=True)
    if sys.argv[2] == "wait":
        time.sleep(600)
    """
)


def _loader(uri: str, env: dict[str, str], wait: bool) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", LOAD_AND_WAIT, uri, "wait" if wait else "exit"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "loaded", proc.communicate(timeout=60)[1]
    return proc


def _folders_of(tmp: Path, pid: int) -> list[Path]:
    return list(tmp.glob(f"loopwright-model-{pid}-*"))


def test_a_killed_process_leaves_no_model_folder_behind(sqlite_env: Path, tmp_path: Path) -> None:
    x = np.random.default_rng(0).normal(size=(40, 3))
    with lw.start_run():
        uri = lw.log_model(LogisticRegression().fit(x, x[:, 0] > 0), "model", input_example=x[:2]).uri
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = {**os.environ, "TMPDIR": str(tmp)}  # the children's temp dir: this test's alone

    survivor = _loader(uri, env, wait=True)
    try:
        victim = _loader(uri, env, wait=True)
        [victim_folder] = _folders_of(tmp, victim.pid)
        assert (victim_folder / "model.skops").is_file()
        victim.send_signal(signal.SIGKILL)
        victim.communicate(timeout=60)
        assert victim_folder.is_dir()  # a killed process cleans up nothing itself

        unknown_owner = tmp / "loopwright-model-k2j4h5"  # named before owners were recorded
        other_pid_space = tmp / f"loopwright-model-{victim.pid}-deadbeef-x1"  # another container's
        for folder in (unknown_owner, other_pid_space):
            folder.mkdir()

        _loader(uri, env, wait=False).communicate(timeout=120)  # the next process to load a model

        assert not victim_folder.exists()
        assert len(_folders_of(tmp, survivor.pid)) == 1  # the live process keeps its files
        assert unknown_owner.is_dir() and other_pid_space.is_dir()
    finally:
        survivor.kill()
        survivor.communicate(timeout=60)
