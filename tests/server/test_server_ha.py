"""High availability: two ``loopwright server`` processes on one PostgreSQL schema serve one team.

Killing the server the clients talk to (SIGKILL, mid-load) loses no acknowledged write and
duplicates none: each write request carries an ``Idempotency-Key`` that commits with the write, and
``RestStore`` sends a failed request again, same key, to the next server. A server that loses its
database answers 503 (readiness, reads, writes; never 500, never a hang) and recovers by itself.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from cli_process import PlatformServer, free_port
from loopwright.store.entities import MetricPoint
from loopwright.store.rest import RestStore
from loopwright.store.sql import SqlStore
from loopwright.store.wire import plain

pytestmark = pytest.mark.timeout(400)

PG_URI = os.environ.get("LOOPWRIGHT_TEST_PG", "postgresql+psycopg://root@127.0.0.1:5432/test")

CLIENTS = 4
STEPS_PER_FLUSH = 4
FLUSHES_PER_RUN = 6
RUNS_AFTER_KILL = 1
START_TIMEOUT_S = 180  # a server start is seconds of CPU; a busy CI machine stretches it
EXPERIMENT = "ha"

# One client process: runs with params, tags and many small metric flushes, through the public API.
# Every call that returned is appended to its ack file as one JSON line (a returned flush
# acknowledges the points logged before it). It keeps writing until the test has killed a server,
# then does RUNS_AFTER_KILL more runs, so writes happen before, during and after the kill.
CLIENT_SCRIPT = """
import json, logging, os, sys
from pathlib import Path
import loopwright as lw

index, acks_path, killed = int(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
steps, flushes, after_kill = (int(value) for value in sys.argv[4:7])
logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
logging.getLogger("loopwright.store.rest").setLevel(logging.INFO)  # its retries, for the test to see
acks = acks_path.open("a", buffering=1)

def ack(**fields):
    acks.write(json.dumps(fields) + "\\n")

number, runs_left = 0, None
while runs_left != 0:
    name = f"c{index}-r{number}"
    with lw.start_run(name=name, experiment=sys.argv[7]) as run:
        ack(kind="run", run=run.id, name=name)
        lw.log_params({"client": index, "number": number})
        ack(kind="params", run=run.id, params={"client": str(index), "number": str(number)})
        lw.set_tags({"phase": "after" if runs_left is not None else "before"})
        ack(kind="tags", run=run.id)
        for flush in range(flushes):
            batch = list(range(flush * steps, (flush + 1) * steps))
            for step in batch:
                lw.log_metric("loss", 1.0 / (step + 1), step=step)
            lw.flush()
            ack(kind="metrics", run=run.id, steps=batch)
    ack(kind="ended", run=run.id)
    number += 1
    if runs_left is None and killed.exists():
        runs_left = after_kill
    elif runs_left is not None:
        runs_left -= 1
"""


@pytest.fixture(scope="module")
def schema_uri() -> Iterator[str]:
    """A private, migrated PostgreSQL schema for this module's servers, dropped at the end."""
    schema = f"lw_ha_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(PG_URI, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    uri = f"{PG_URI}?options=-csearch_path%3D{schema}"
    SqlStore(uri).close()
    try:
        yield uri
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


class TcpProxy:
    """Forwards 127.0.0.1:``port`` to 127.0.0.1:``target``; :meth:`stop` closes every connection."""

    def __init__(self, target: int, port: int | None = None):
        self.target = target
        self.port = port or free_port()
        self.sockets: list[socket.socket] = []
        self.lock = threading.Lock()
        self.listener: socket.socket | None = None

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        listener.settimeout(0.1)
        self.listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while self.listener is listener:
            try:
                downstream, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            downstream.settimeout(None)
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target))
            except OSError:
                downstream.close()
                continue
            with self.lock:
                self.sockets += [downstream, upstream]
            for source, sink in ((downstream, upstream), (upstream, downstream)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        for sock in (source, sink):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def stop(self) -> None:
        listener, self.listener = self.listener, None
        if listener is not None:
            listener.close()
        with self.lock:
            sockets, self.sockets = self.sockets, []
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()


class Pair:
    """Two servers on one schema and one artifact folder; the second reaches PostgreSQL through ``proxy``.

    Started once per module (a server start costs seconds of CPU); a test that killed one gets it
    back through :meth:`alive` (the kill test runs after the test that needs both as started).
    """

    def __init__(self, schema_uri: str, artifacts: Path):
        self.proxy = TcpProxy(target=sa.make_url(PG_URI).port or 5432)
        self.proxy.start()
        proxied = sa.make_url(schema_uri).set(port=self.proxy.port).render_as_string(hide_password=False)
        self.args = [("--store-uri", uri, "--artifact-uri", str(artifacts)) for uri in (schema_uri, proxied)]
        self.servers: list[PlatformServer] = []
        self.logs: list[str] = []
        try:
            for args in self.args:
                self.servers.append(PlatformServer(*args, timeout=START_TIMEOUT_S))
        except BaseException:
            self.stop()
            raise

    def alive(self) -> tuple[PlatformServer, PlatformServer]:
        for index, server in enumerate(self.servers):
            if server.proc.poll() is not None:
                self.servers[index] = PlatformServer(*self.args[index], timeout=START_TIMEOUT_S)
                self.logs.append(server.stop())
        return self.servers[0], self.servers[1]

    def stop(self) -> None:
        self.logs += [server.stop() for server in self.servers]
        self.proxy.stop()


@pytest.fixture(scope="module")
def pair(schema_uri: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    servers = Pair(schema_uri, tmp_path_factory.mktemp("ha-artifacts"))
    try:
        yield servers
    finally:
        servers.stop()
    for log in servers.logs:  # nothing the tests did, a kill and a lost database included, was a 500
        assert " 500 " not in log and "Traceback" not in log, log[-3000:]


@pytest.fixture
def two_servers(pair: Pair) -> tuple[PlatformServer, PlatformServer]:
    return pair.alive()


def _acks(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    # a line being written when we read is not complete yet: only whole lines count
    return [json.loads(line) for line in path.read_text().splitlines(keepends=True) if line.endswith("\n")]


def _wait_for(condition: Callable[[], bool], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _post(url: str, path: str, body: Any, key: str) -> httpx.Response:
    return httpx.post(f"{url}/api/v1{path}", json=body, headers={"Idempotency-Key": key}, timeout=30)


def test_one_idempotency_key_is_applied_once_across_servers(
    two_servers: tuple[PlatformServer, PlatformServer],
) -> None:
    first, second = two_servers
    experiment = RestStore(first.url).create_experiment(f"idem-{uuid.uuid4().hex[:8]}")
    run_id = uuid.uuid4().hex
    body = {"experiment_id": experiment.id, "name": "once", "run_id": run_id}
    created = _post(first.url, "/runs", body, "run-key-" + run_id)
    again = _post(second.url, "/runs", body, "run-key-" + run_id)
    assert created.status_code == again.status_code == 200, again.text
    assert again.json() == created.json()  # the first answer, saved with the key
    assert created.json()["id"] == run_id

    points = [(run_id, MetricPoint("acc", 0.5, step=3, timestamp=1_767_225_600_000))]
    key = uuid.uuid4().hex
    answers = [_post(url, "/metrics", {"points": plain(points)}, key) for url in (first.url, second.url)]
    assert [(a.status_code, a.json()) for a in answers] == [(200, None), (200, None)]
    history = RestStore(second.url).list_metric_history(run_id, "acc")
    assert [(p.step, p.value) for p in history] == [(3, 0.5)]
    # the key is what makes it once: the same points under a new key are a second write
    assert _post(second.url, "/metrics", {"points": plain(points)}, uuid.uuid4().hex).status_code == 200
    assert len(RestStore(first.url).list_metric_history(run_id, "acc")) == 2


def test_sigkill_under_write_load_loses_and_duplicates_no_acknowledged_write(
    two_servers: tuple[PlatformServer, PlatformServer], schema_uri: str, tmp_path: Path
) -> None:
    first, second = two_servers
    script = tmp_path / "client.py"
    script.write_text(CLIENT_SCRIPT)
    killed = tmp_path / "killed"
    env = {
        **os.environ,
        "LOOPWRIGHT_STORE_URI": f"{first.url},{second.url}",
        "LOOPWRIGHT_HOME": str(tmp_path / "home"),
        "PYTHONPATH": os.pathsep.join(p for p in sys.path if p),
    }
    env.pop("LOOPWRIGHT_ARTIFACT_URI", None)
    RestStore(first.url).create_experiment(EXPERIMENT)  # created once, not raced by the clients
    ack_files = [tmp_path / f"acks-{index}.jsonl" for index in range(CLIENTS)]
    args = [str(STEPS_PER_FLUSH), str(FLUSHES_PER_RUN), str(RUNS_AFTER_KILL), EXPERIMENT]
    clients = [
        subprocess.Popen(
            [sys.executable, str(script), str(index), str(path), str(killed), *args],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for index, path in enumerate(ack_files)
    ]
    try:
        # every client is in the middle of its load (a few dozen requests each) before the kill
        _wait_for(lambda: all(len(_acks(path)) >= 8 for path in ack_files), "the clients' load", timeout=120)
        first.proc.send_signal(signal.SIGKILL)
        first.proc.wait()
        before_kill = sum(len(_acks(path)) for path in ack_files)
        killed.touch()
        outputs = [client.communicate(timeout=120) for client in clients]
    finally:
        for client in clients:
            if client.poll() is None:
                client.kill()
    for client, (_, err) in zip(clients, outputs, strict=True):
        assert client.returncode == 0, err[-3000:]
        assert "Traceback" not in err and "ERROR" not in err, err[-3000:]
    # every client noticed the dead server and went on against the other one
    assert all("trying again" in err for _, err in outputs), [err[-500:] for _, err in outputs]
    acks = [ack for path in ack_files for ack in _acks(path)]
    assert len(acks) > before_kill  # writes acknowledged after the kill (by the second server)

    engine = sa.create_engine(schema_uri)
    ours = "SELECT r.id FROM runs r JOIN experiments e ON e.id = r.experiment_id WHERE e.name = :name"
    with engine.connect() as conn:
        query = f"SELECT id, name, status FROM runs WHERE id IN ({ours})"
        runs = {row.id: row for row in conn.execute(sa.text(query), {"name": EXPERIMENT})}
        run_names = [row.name for row in runs.values()]
        query = f"SELECT run_id, step, count(*) AS n FROM metrics WHERE run_id IN ({ours}) GROUP BY 1, 2"
        counts = {(row.run_id, row.step): row.n for row in conn.execute(sa.text(query), {"name": EXPERIMENT})}
        params = {(row.run_id, row.key): row.value for row in conn.execute(sa.text("SELECT * FROM params"))}
        tags = {(row.run_id, row.key) for row in conn.execute(sa.text("SELECT run_id, key FROM run_tags"))}
    engine.dispose()

    assert len(run_names) == len(set(run_names)), "a run was created twice"
    assert all(count == 1 for count in counts.values()), {k: n for k, n in counts.items() if n != 1}
    acknowledged_points = 0
    for ack in acks:
        assert ack["run"] in runs
        if ack["kind"] == "run":
            assert runs[ack["run"]].name == ack["name"]
        elif ack["kind"] == "params":
            assert {key: params[(ack["run"], key)] for key in ack["params"]} == ack["params"]
        elif ack["kind"] == "tags":
            assert (ack["run"], "phase") in tags
        elif ack["kind"] == "metrics":
            assert [counts.get((ack["run"], step)) for step in ack["steps"]] == [1] * len(ack["steps"])
            acknowledged_points += len(ack["steps"])
        elif ack["kind"] == "ended":
            assert runs[ack["run"]].status == "finished"
    # the clients finished without errors, so every run they started got all its points
    assert sum(counts.values()) == acknowledged_points == len(runs) * STEPS_PER_FLUSH * FLUSHES_PER_RUN


def test_server_that_loses_the_database_answers_503_and_recovers_by_itself(pair: Pair) -> None:
    server, proxy = pair.servers[1], pair.proxy  # the one behind the proxy (the kill test spared it)
    assert server.proc.poll() is None
    http = httpx.Client(base_url=server.url, timeout=30)  # a hang fails the test, it does not stall it
    try:
        store = RestStore(server.url)
        experiment = store.create_experiment(f"blip-{uuid.uuid4().hex[:8]}")
        run = store.create_run(experiment.id, name="blip")
        proxy.stop()

        _wait_for(lambda: http.get("/readyz").status_code == 503, "/readyz to answer 503", timeout=20)
        assert http.get("/healthz").status_code == 200  # the process is alive: do not restart it
        write = http.post(f"/api/v1/runs/{run.id}/tags", json={"tags": {"a": "b"}})
        read = http.get(f"/api/v1/runs/{run.id}")
        for answer in (write, read):
            assert answer.status_code == 503, answer.text
            assert answer.json()["error"] == "Unavailable"

        # a client whose write starts during the outage gets it through once the database is back
        outcome: list[BaseException | None] = []

        def set_tags() -> None:
            try:
                RestStore(server.url, retry_for=30).set_tags(run.id, {"during": "outage"})
                outcome.append(None)
            except BaseException as error:
                outcome.append(error)

        refused = server.log().count("/tags → 503")
        writer = threading.Thread(target=set_tags)
        writer.start()
        _wait_for(lambda: server.log().count("/tags → 503") > refused, "the writer's first attempt")
        assert not outcome  # still retrying: nothing can succeed while the database is away
        proxy.start()  # same port: the server reconnects on its own

        _wait_for(lambda: http.get("/readyz").status_code == 200, "/readyz to recover", timeout=30)
        writer.join(timeout=60)
        assert outcome == [None]
        assert store.get_run(run.id).tags["during"] == "outage"
        assert http.post(f"/api/v1/runs/{run.id}/tags", json={"tags": {"after": "yes"}}).status_code == 200
    finally:
        http.close()
        if proxy.listener is None:
            proxy.start()
