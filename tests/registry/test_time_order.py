"""Registry times follow the order of the lock: concurrent registrations from threads and processes give
created times that never go back as version numbers go up, and audit times that never go back as ids do."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa

import loopwright as lw
from loopwright.store.sql.tables import audit_log

MODELS = ("churn", "fraud")


def _assert_in_order(store_uri: str) -> None:
    for name in MODELS:
        created = [v.created_at for v in sorted(lw.search_model_versions(f"name = '{name}'"), key=_number)]
        assert created == sorted(created), f"{name}: created times go back as versions go up"
    # ids come from one sequence shared by every model: times must follow it across models too
    engine = sa.create_engine(store_uri)
    with engine.connect() as conn:
        times = list(conn.execute(sa.select(audit_log.c.time_ms).order_by(audit_log.c.id)).scalars())
    engine.dispose()
    assert times == sorted(times), "audit times go back as ids go up"


def _number(version: lw.ModelVersion) -> int:
    return version.version


@pytest.mark.parametrize("store_uri", ["sqlite", "postgresql"], indirect=True)  # reads the SQL table
def test_threads_registering_at_once(package_run: Callable[..., str], lw_env: Path, store_uri: str) -> None:
    source = f"runs:/{package_run()}/model"
    start = threading.Barrier(8)
    errors: list[BaseException] = []

    def register(name: str) -> None:
        try:
            start.wait()
            for _ in range(6):
                version = lw.register_model(source, name)
                lw.set_model_version_tag(name, version.version, "by", threading.current_thread().name)
        except BaseException as error:  # re-raised in the test thread
            errors.append(error)

    threads = [threading.Thread(target=register, args=(MODELS[i % 2],)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not errors, errors
    assert {len(lw.search_model_versions(f"name = '{name}'")) for name in MODELS} == {24}
    _assert_in_order(store_uri)


REGISTRAR = textwrap.dedent(
    """
    import os, sys, time
    import loopwright as lw
    source, name, go = sys.argv[1:]
    lw.search_registered_models()  # connect before the start signal
    print("ready", flush=True)
    while not os.path.exists(go):
        time.sleep(0.0005)
    for _ in range(6):
        lw.register_model(source, name)
    """
)


@pytest.mark.parametrize("store_uri", ["sqlite"], indirect=True)
def test_processes_registering_at_once(package_run: Callable[..., str], lw_env: Path, store_uri: str) -> None:
    source = f"runs:/{package_run()}/model"
    go = lw_env / "go"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", REGISTRAR, source, MODELS[i % 2], str(go)],
            env=dict(os.environ),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(4)
    ]
    for proc in procs:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready", proc.stderr
    go.touch()
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
    assert {len(lw.search_model_versions(f"name = '{name}'")) for name in MODELS} == {12}
    _assert_in_order(store_uri)
