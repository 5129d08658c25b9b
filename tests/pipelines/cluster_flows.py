"""Steps the two-node Ray cluster test runs (a module, so the cluster's workers import the same code)."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import ray

import loopwright as lw
from loopwright import pipeline, step


def _node() -> str:
    return str(ray.get_runtime_context().get_node_id())


@step(cache=False, resources={"CPU": 1, "node_a": 1})
def on_a(label: str) -> dict:
    return {"label": label, "node": _node()}


@step(cache=False, resources={"CPU": 1, "node_b": 1})
def on_b(label: str) -> dict:
    return {"label": label, "node": _node()}


@pipeline
def placed(label: str = "x"):
    return on_a(label), on_b(label)


@step(cache=False, retries=1, retry_delay=0.0, resources={"CPU": 1})
def dies_once(marker: str) -> dict:
    """The first attempt notes its node in ``marker`` and SIGKILLs its own worker process."""
    path = Path(marker)
    if not path.exists():
        path.write_text(_node())
        os.kill(os.getpid(), signal.SIGKILL)
    return {"died_on": path.read_text(), "node": _node()}


@step(cache=False)
def quadratic_loss(x: float) -> float:
    loss = (x - 2.0) ** 2
    lw.log_metric("loss", loss)
    return loss


@pipeline
def quadratic(x: float = 0.0):
    return quadratic_loss(x)


@step(cache=False, resources={"CPU": 1})
def dies_always(marker: str) -> dict:
    """Like ``dies_once`` with no retries: its one attempt is killed."""
    return dies_once.fn(marker)


@pipeline
def fragile(once: str, always: str):
    # independent branches: both workers die at about the same time, one step has a retry left
    return dies_once(once), dies_always(always)
