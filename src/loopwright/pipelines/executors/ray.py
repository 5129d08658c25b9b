"""The Ray executor: every step is a Ray task sized by the step's ``resources``.

``RayExecutor()`` joins the Ray instance this process already has, else starts or joins a local
one (``ray.init()``); ``RayExecutor("host:6379")`` joins a cluster started with ``ray start``
(``"ray://host:10001"`` through Ray Client). Outputs travel through the artifact store by digest
(the object store carries only the small :class:`StepOutcome`), so on a cluster the store URI and
the artifact URI must be reachable from the workers (PostgreSQL and S3, say).

Retries are ours, not Ray's (``max_retries=0``), so each attempt is counted and logged the same
way on every executor. A step that raises is retried inside its worker; a step whose worker
*died* (killed, out of memory, its node lost) is submitted again with the attempts it has left,
away from the node it died on when another alive node has the resources it asks for. The worker
tags its tracking run with its Ray node id (``loopwright.ray_node``), which is how the coordinator
learns where an attempt died; that run is ended ``failed`` for it.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import cloudpickle

from loopwright.errors import InvalidInput, LoopwrightError
from loopwright.pipelines.executors.base import Executor
from loopwright.pipelines.steps import ray_options
from loopwright.pipelines.tasks import ATTEMPT_TAG, StepOutcome, StepTask, execute
from loopwright.tracking.client import shared_client

NODE_TAG = "loopwright.ray_node"


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


def _same_address(ray: Any, wanted: str, current: str | None) -> bool:
    """Whether ``wanted`` names the GCS this process is connected to.

    Ray connects to ``127.0.0.1:6379`` or ``localhost:6379`` as this host's own IP (what
    ``gcs_address`` then reports), so those count as the same address.
    """
    if current is None or wanted.startswith("ray://"):
        return wanted == current
    host, _, port = wanted.rpartition(":")
    current_host, _, current_port = current.rpartition(":")
    if port != current_port:
        return False
    if host in ("127.0.0.1", "localhost", "::1"):
        host = ray.util.get_node_ip_address()
    return host == current_host


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
        elif address not in (None, "auto") and not _same_address(ray, address, _current_address(ray)):
            # ray.init would silently keep the existing connection: running elsewhere is a surprise
            raise InvalidInput(
                f"Ray is already initialised in this process (at {_current_address(ray)!r}), so it cannot "
                f"join {address!r}: use executor='ray' to run there, or call ray.shutdown() first"
            )
        self._remote = ray.remote(max_retries=0)(run_on_ray)
        self._refs: dict[Any, StepTask] = {}
        self._died_on: dict[str, set[str]] = {}  # step run id → nodes where its workers died
        self._worker_deaths: tuple[type[BaseException], ...] = (
            ray.exceptions.WorkerCrashedError,
            ray.exceptions.NodeDiedError,
            ray.exceptions.OutOfMemoryError,
        )

    def submit(self, tasks: list[StepTask]) -> None:
        for task in tasks:
            self._submit(task)

    def _submit(self, task: StepTask) -> None:
        options = ray_options(task.step.options)
        avoid = self._died_on.get(task.step_run_id)
        if avoid:
            elsewhere = _other_nodes(_ray(), options, avoid)
            if elsewhere:
                from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

                # soft: should that node go too, Ray places the task wherever it fits
                options["scheduling_strategy"] = NodeAffinitySchedulingStrategy(elsewhere[0], soft=True)
        ref = self._remote.options(name=f"loopwright:{task.node}", **options).remote(cloudpickle.dumps(task))
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
                self._died_on.pop(task.step_run_id, None)
            except self._worker_deaths as exc:
                used = self._bury(task, exc)
                if used <= task.step.options.retries:
                    self._submit(dataclasses.replace(task, first_attempt=used))
                else:
                    self._died_on.pop(task.step_run_id, None)
                    outcomes.append(StepOutcome.crashed(task.node, task.step_run_id, exc, used))
            except Exception as exc:  # Ray could not ship or schedule the task
                outcomes.append(StepOutcome.crashed(task.node, task.step_run_id, exc, task.first_attempt + 1))
        if not outcomes and self._refs:
            return self.wait()  # only retries were started: the coordinator waits for an outcome
        return outcomes

    def _bury(self, task: StepTask, exc: BaseException) -> int:
        """End the tracking run a dead worker left running; return the attempts it used up."""
        used = task.first_attempt + 1
        if task.parent_run_id is None:
            return used
        client = shared_client(task.store_uri, task.artifact_uri)
        for run in client.list_child_runs(task.parent_run_id):
            if run.system_tags.get("loopwright.step_run") != task.step_run_id or run.status != "running":
                continue
            if NODE_TAG in run.system_tags:
                self._died_on.setdefault(task.step_run_id, set()).add(run.system_tags[NODE_TAG])
            used = max(used, int(run.system_tags.get(ATTEMPT_TAG, used)))
            first_line = (str(exc).strip().splitlines() or [""])[0]
            client.store.set_run_status(
                run.id, "failed", error=f"worker died: {type(exc).__name__}: {first_line}"
            )
        return used

    def in_flight(self) -> int:
        return len(self._refs)


def run_on_ray(payload: bytes) -> StepOutcome:
    """The Ray task: run a shipped :class:`StepTask`, its tracking run tagged with this node's id."""
    ray = _ray()
    task: StepTask = cloudpickle.loads(payload)
    return execute(task, in_process=False, tags={NODE_TAG: ray.get_runtime_context().get_node_id()})


_BUILT_IN = {"num_cpus": "CPU", "num_gpus": "GPU", "memory": "memory"}


def _other_nodes(ray: Any, options: dict[str, Any], avoid: set[str]) -> list[str]:
    """Alive nodes, other than ``avoid``, whose total resources fit the task's, sorted by id."""
    wanted = {_BUILT_IN[k]: v for k, v in options.items() if k in _BUILT_IN}
    wanted.update(options.get("resources", {}))
    return sorted(
        node["NodeID"]
        for node in ray.nodes()
        if node["Alive"]
        and node["NodeID"] not in avoid
        and all(node["Resources"].get(k, 0) >= v for k, v in wanted.items() if v)
    )
