"""Eight client processes logging at once through one ``loopwright server`` lose nothing.

The server is on SQLite, the store a small team starts with: its writers queue on one file lock,
the server's worker threads share it, and every client's points, params and tags must all arrive.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cli_process import PlatformServer
from loopwright.store.rest import RestStore

pytestmark = pytest.mark.timeout(400)

CLIENTS = 8
KEYS = ("loss", "accuracy")
STEPS = 1000  # per key: 2,000 points per client
FLUSH_EVERY = 100  # steps between flushes: 10 batches of 200 points, besides the background writer's

# One client: waits for the start signal (so all eight write at the same time, not as they finish
# importing), then logs its own run through the public API and prints the run's id.
CLIENT_SCRIPT = """
import sys, time
from pathlib import Path
import loopwright as lw

index, folder, steps, every = int(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
keys = sys.argv[5].split(",")
(folder / f"ready-{index}").touch()
while not (folder / "go").exists():
    time.sleep(0.01)
with lw.start_run(name=f"client-{index}", experiment="concurrent") as run:
    lw.log_params({"client": index, "steps": steps})
    lw.set_tags({"worker": f"w{index}"})
    for step in range(steps):
        lw.log_metrics({key: index + step / steps for key in keys}, step=step)
        if (step + 1) % every == 0:
            lw.flush()
print(run.id)
"""


def test_eight_clients_logging_at_once_through_one_server_lose_nothing(tmp_path: Path) -> None:
    server = PlatformServer(
        "--store-uri", f"sqlite:///{tmp_path / 'team.db'}", "--artifact-uri", str(tmp_path / "artifacts"),
        timeout=180,
    )  # fmt: skip
    try:
        script = tmp_path / "client.py"
        script.write_text(CLIENT_SCRIPT)
        env = {
            **os.environ,
            "LOOPWRIGHT_STORE_URI": server.url,
            "LOOPWRIGHT_HOME": str(tmp_path / "home"),
            "PYTHONPATH": os.pathsep.join(p for p in sys.path if p),
        }
        env.pop("LOOPWRIGHT_ARTIFACT_URI", None)
        args = [str(tmp_path), str(STEPS), str(FLUSH_EVERY), ",".join(KEYS)]
        clients = [
            subprocess.Popen(
                [sys.executable, str(script), str(index), *args],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for index in range(CLIENTS)
        ]
        deadline = time.monotonic() + 120
        while not all((tmp_path / f"ready-{index}").exists() for index in range(CLIENTS)):
            assert time.monotonic() < deadline and all(c.poll() is None for c in clients), (
                "a client did not start"
            )
            time.sleep(0.02)
        (tmp_path / "go").touch()  # all eight imported: they now write at the same time
        outputs = [client.communicate(timeout=300) for client in clients]
        for client, (_, err) in zip(clients, outputs, strict=True):
            assert client.returncode == 0 and "Traceback" not in err, err[-3000:]
        run_ids = [out.strip().splitlines()[-1] for out, _ in outputs]

        store = RestStore(server.url)
        runs = store.search_runs([store.get_experiment_by_name("concurrent").id])  # type: ignore[union-attr]
        assert sorted(run.id for run in runs) == sorted(run_ids)  # one experiment, eight runs, no more
        for index, run_id in enumerate(run_ids):
            run = store.get_run(run_id)
            assert run.name == f"client-{index}" and run.status == "finished"
            assert run.params == {"client": str(index), "steps": str(STEPS)}
            assert run.tags["worker"] == f"w{index}"
            for key in KEYS:
                history = sorted(store.list_metric_history(run_id, key), key=lambda point: point.step)
                assert [point.step for point in history] == list(range(STEPS)), (index, key)
                assert [point.value for point in history] == [index + step / STEPS for step in range(STEPS)]
            assert run.metrics == dict.fromkeys(KEYS, index + (STEPS - 1) / STEPS)
    finally:
        log = server.stop()
    assert " 500 " not in log and "Traceback" not in log, log[-3000:]
