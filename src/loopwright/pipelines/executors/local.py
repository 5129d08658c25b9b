"""The local executor: one ready step runs in this process; parallel branches go to a process pool.

In-process execution costs nothing extra (a chain of steps is a chain of function calls plus
bookkeeping). When several steps are ready at once, or one is ready while another still runs, they
go to a pool of ``spawn`` ed worker processes, so CPU-bound branches really overlap. The pool is
started on first need and kept for later runs of this process (a worker costs a second or two to
start; tasks carry the store URIs, so one pool serves any environment).

Workers do not re-run the user's main script, as ``spawn`` workers otherwise would: steps travel
by value (cloudpickle), so a worker never needs ``__main__``, and a script that calls
``churn.run(...)`` at top level (no ``if __name__ == "__main__":`` guard) must not run its
pipeline again in every worker.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from multiprocessing.context import SpawnContext, SpawnProcess
from typing import Any

import cloudpickle

from loopwright.pipelines.executors.base import Executor
from loopwright.pipelines.tasks import StepOutcome, StepTask, execute, run_pickled


class LocalExecutor(Executor):
    """In-process for sequential steps, a process pool for parallel ones."""

    label = "local"

    def __init__(self) -> None:
        self._futures: dict[Future[StepOutcome], StepTask] = {}
        self._finished: list[StepOutcome] = []

    def submit(self, tasks: list[StepTask]) -> None:
        if len(tasks) == 1 and not self._futures:
            self._finished.append(execute(tasks[0], in_process=True))
            return
        for task in tasks:
            self._futures[_submit(cloudpickle.dumps(task))] = task

    def wait(self) -> list[StepOutcome]:
        if self._finished:
            done, self._finished = self._finished, []
            return done
        finished, _ = wait(list(self._futures), return_when=FIRST_COMPLETED)
        outcomes = []
        for future in finished:
            task = self._futures.pop(future)
            try:
                outcomes.append(future.result())
            except Exception as exc:  # the worker process died or the task could not be shipped
                outcomes.append(StepOutcome.crashed(task.node, task.step_run_id, exc))
        return outcomes

    def in_flight(self) -> int:
        return len(self._futures) + len(self._finished)


class _StepWorker(SpawnProcess):
    """A spawned pool worker started without the parent's ``__main__`` module."""

    @staticmethod
    def _Popen(process_obj: Any) -> Any:
        if os.name != "posix":
            return SpawnProcess._Popen(process_obj)
        from multiprocessing import popen_spawn_posix, spawn

        with _spawn_lock:
            original = spawn.get_preparation_data

            def without_main(name: str) -> dict[str, Any]:
                data: dict[str, Any] = original(name)
                data.pop("init_main_from_path", None)
                data.pop("init_main_from_name", None)
                return data

            spawn.get_preparation_data = without_main
            try:
                return popen_spawn_posix.Popen(process_obj)
            finally:
                spawn.get_preparation_data = original


class _StepWorkerContext(SpawnContext):
    Process = _StepWorker


_spawn_lock = threading.Lock()
_pool_lock = threading.Lock()
_pool: ProcessPoolExecutor | None = None


def _submit(payload: bytes) -> Future[StepOutcome]:
    global _pool
    with _pool_lock:
        for _ in range(2):
            if _pool is None:
                # spawn, not fork: the coordinator holds threads (metric writer) and DB connections
                _pool = ProcessPoolExecutor(
                    max_workers=max(2, os.cpu_count() or 2), mp_context=_StepWorkerContext()
                )
            try:
                return _pool.submit(run_pickled, payload)
            except BrokenProcessPool:  # a worker died earlier: start a fresh pool
                _pool = None
        raise RuntimeError("could not start a process pool")
