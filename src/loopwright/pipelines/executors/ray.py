"""The Ray executor: every step is a Ray task sized by the step's ``resources``.

``RayExecutor()`` joins the Ray instance this process already has, else starts or joins a local
one (``ray.init()``); ``RayExecutor("ray://host:10001")`` joins a cluster through Ray Client.
Outputs travel through the artifact store by digest, so on a cluster the store URI and the
artifact URI must be reachable from the workers (PostgreSQL and S3, say). Retries are ours, not
Ray's (``max_retries=0``), so each attempt is counted and logged the same way on every executor.
"""

from __future__ import annotations

import os
from typing import Any

import cloudpickle

from loopwright.errors import InvalidInput, LoopwrightError
from loopwright.pipelines.executors.base import Executor
from loopwright.pipelines.steps import ray_options
from loopwright.pipelines.tasks import StepOutcome, StepTask, run_pickled


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise InvalidInput('executor "ray" needs Ray: pip install "loopwright[ray]"') from None
    return ray


def _current_address(ray: Any) -> str | None:
    """The GCS address this process's Ray connection uses (None through Ray Client)."""
    try:
        return str(ray.get_runtime_context().gcs_address)
    except Exception:  # Ray Client connections have no GCS address here
        return None


class RayExecutor(Executor):
    """Runs each step as a Ray task."""

    def __init__(self, address: str | None = None):
        ray = _ray()
        self.label = "ray" if address is None else f"ray:{address}"
        if not ray.is_initialized():
            os.environ.setdefault("RAY_AUTH_MODE", "disabled")
            try:
                ray.init(
                    address=address, ignore_reinit_error=True, include_dashboard=False, log_to_driver=True
                )
            except Exception as exc:
                where = f"at {address!r}" if address else "locally"
                raise LoopwrightError(
                    f"cannot start or join Ray {where}: {type(exc).__name__}: {exc}"
                ) from None
        elif address not in (None, "auto") and address != _current_address(ray):
            # ray.init would silently keep the existing connection: running elsewhere is a surprise
            raise InvalidInput(
                f"Ray is already initialised in this process (at {_current_address(ray)!r}), so it cannot "
                f"join {address!r}: use executor='ray' to run there, or call ray.shutdown() first"
            )
        self._remote = ray.remote(max_retries=0)(run_pickled)
        self._refs: dict[Any, StepTask] = {}

    def submit(self, tasks: list[StepTask]) -> None:
        for task in tasks:
            options = ray_options(task.step.options)
            ref = self._remote.options(name=f"loopwright:{task.node}", **options).remote(
                cloudpickle.dumps(task)
            )
            self._refs[ref] = task

    def wait(self) -> list[StepOutcome]:
        ray = _ray()
        ready, _ = ray.wait(list(self._refs), num_returns=1)
        more, _ = (
            ray.wait([r for r in self._refs if r not in ready], num_returns=len(self._refs) - 1, timeout=0)
            if len(self._refs) > 1
            else ([], [])
        )
        outcomes = []
        for ref in [*ready, *more]:
            task = self._refs.pop(ref)
            try:
                outcomes.append(ray.get(ref))
            except Exception as exc:  # the worker died, or Ray could not schedule the task
                outcomes.append(StepOutcome.crashed(task.node, task.step_run_id, exc))
        return outcomes

    def in_flight(self) -> int:
        return len(self._refs)
