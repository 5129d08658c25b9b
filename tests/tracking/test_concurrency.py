"""Several processes logging into one SQLite file, and a logger killed with SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import loopwright as lw

WRITER = textwrap.dedent(
    """
    import sys, loopwright as lw
    lw.set_experiment("multi")
    with lw.start_run(name=sys.argv[1]) as run:
        for i in range(1000):
            lw.log_metric("m", float(i), step=i)
    print(run.id)
    """
)

KILLED = textwrap.dedent(
    """
    import sys, time, loopwright as lw
    with lw.start_run(name="victim") as run:
        for i in range(500):
            lw.log_metric("m", i / 4, step=i)
        lw.flush()
        print(run.id, flush=True)
        for i in range(500, 1000):  # 500 more, then a second explicit flush
            lw.log_metric("m", i / 4, step=i)
        lw.flush()
        print(1000, flush=True)
        i = 1000
        while True:  # keep logging until killed: only background flushes write these
            lw.log_metric("m", i / 4, step=i)
            i += 1
            time.sleep(0.0005)
    """
)


def _env(home: Path) -> dict[str, str]:
    return {**os.environ, "LOOPWRIGHT_HOME": str(home)}


def test_four_processes_log_1000_points_each(sqlite_env: Path) -> None:
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, f"w{i}"], env=_env(sqlite_env), stdout=subprocess.PIPE, text=True
        )
        for i in range(4)
    ]
    run_ids = []
    for proc in procs:
        out, _ = proc.communicate(timeout=120)
        assert proc.returncode == 0
        run_ids.append(out.strip())
    for run_id in run_ids:
        history = lw.list_metric_history(run_id, "m")
        assert [p.step for p in history] == list(range(1000))
        assert lw.get_run(run_id).status == "finished"


def test_sigkill_keeps_every_flushed_point(sqlite_env: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", KILLED], env=_env(sqlite_env), stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    run_id = proc.stdout.readline().strip()
    assert proc.stdout.readline().strip() == "1000"  # the second explicit flush returned
    # steps 500..999 were logged after the first flush and must be in the store now, every one
    flushed = lw.list_metric_history(run_id, "m")
    assert len(flushed) >= 1000
    assert [(p.step, p.value) for p in flushed[:1000]] == [(i, i / 4) for i in range(1000)]
    # the background writer keeps writing while the child logs: wait until it has written more
    deadline = time.monotonic() + 20
    while len(lw.list_metric_history(run_id, "m")) <= 1200 and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)  # mid-write: background flushes are still happening
    proc.wait(10)
    history = lw.list_metric_history(run_id, "m")
    steps = [p.step for p in history]
    assert len(steps) > 1200, len(steps)  # points only background flushes wrote are there
    assert steps == list(range(len(steps)))  # no gaps, no torn batch
    assert [p.value for p in history] == [i / 4 for i in range(len(steps))]
    assert lw.get_run(run_id).status == "running"
    with lw.start_run() as run:  # the store is still writable
        lw.log_metric("after", 1.0)
    assert lw.get_run(run.id).metrics == {"after": 1.0}
