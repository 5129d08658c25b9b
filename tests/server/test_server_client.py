"""The unchanged Python API and CLI on a team server: buffered metrics are few requests, the CLI reads it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

import loopwright as lw
from cli_process import PlatformServer, run_cli


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PlatformServer]:
    home = tmp_path_factory.mktemp("server")
    running = PlatformServer(
        "--store-uri", f"sqlite:///{home}/lw.db", "--artifact-uri", str(home / "artifacts")
    )
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def client_env(server: PlatformServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("LOOPWRIGHT_HOME", str(tmp_path / "laptop"))
    monkeypatch.setenv("LOOPWRIGHT_STORE_URI", server.url)
    monkeypatch.delenv("LOOPWRIGHT_ARTIFACT_URI", raising=False)
    lw.reset_clients()
    yield server.url
    while lw.active_run() is not None:
        lw.end_run()
    lw.reset_clients()


def _metric_posts(url: str) -> float:
    text = httpx.get(f"{url}/metrics").text
    found = re.findall(
        r'loopwright_server_requests_total\{code="200",method="POST",route="/api/v1/metrics"\} (\S+)', text
    )
    return float(found[0]) if found else 0.0


def test_buffered_metrics_travel_as_one_request_per_flush(client_env: str) -> None:
    before = _metric_posts(client_env)
    with lw.start_run(experiment="buffered") as run:
        for step in range(5_000):
            lw.log_metric("loss", 1.0 / (step + 1), step=step)
        lw.flush()
    posts = _metric_posts(client_env) - before
    assert 1 <= posts <= 5, posts  # 5,000 calls, a handful of batches (the buffer flushes every 0.2 s)
    history = lw.get_client().list_metric_history(run.id, "loss")
    assert [p.step for p in history] == list(range(5_000))
    assert history[-1].value == pytest.approx(1 / 5_000)


def test_artifacts_go_through_the_server_not_a_local_folder(client_env: str, tmp_path: Path) -> None:
    note = tmp_path / "note.txt"
    note.write_text("hello team")
    with lw.start_run(experiment="files") as run:
        lw.log_artifact(note)
    assert not (tmp_path / "laptop" / "artifacts").exists()  # the client holds no blobs of its own
    answer = httpx.get(f"{client_env}/api/v1/runs/{run.id}/artifacts/note.txt")
    assert answer.status_code == 200 and answer.content == b"hello team"
    assert (
        lw.get_client().download_artifacts(run.id, "note.txt", tmp_path / "back").read_text() == "hello team"
    )


def test_the_cli_reads_and_writes_through_the_server(client_env: str) -> None:
    with lw.start_run("seen-from-cli", experiment="cli"):
        lw.log_metric("auc", 0.91)
    env = {"LOOPWRIGHT_STORE_URI": client_env}
    listed = run_cli("runs", "list", "--experiment", "cli", "--output", "json", env=env)
    assert listed.returncode == 0, listed.stderr
    assert "seen-from-cli" in listed.stdout and "0.91" in listed.stdout
    created = run_cli("experiments", "create", "made-by-cli", env=env)
    assert created.returncode == 0, created.stderr
    assert lw.get_client().get_experiment("made-by-cli").name == "made-by-cli"
    missing = run_cli("runs", "show", "f" * 32, env=env)
    assert (
        missing.returncode == 1
        and missing.stderr.strip().startswith("error: ")
        and "not found" in missing.stderr
    )
