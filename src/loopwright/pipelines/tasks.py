"""One step execution, the unit every executor runs: in-process, in a pool worker or as a Ray task.

A :class:`StepTask` carries the step (shipped by value with cloudpickle), its arguments encoded as
JSON values and blob digests, and where the store and the blob store are. The worker loads inputs
by digest (verified), runs the function inside the step's tracking run (so ``lw.log_metric`` works),
retries with backoff, materialises the outputs into the blob store and returns a
:class:`StepOutcome` of digests — never the values, so a remote worker needs only the stores.

Examples
--------
>>> spec = {"$tuple": [{"$value": 1}, {"$list": [{"$value": "a"}, {"$path": "data.csv"}]}]}
>>> decode(spec, load=None)
(1, ['a', PosixPath('data.csv')])
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import cloudpickle

from loopwright.errors import InvalidInput
from loopwright.pipelines.materializers import Materializer, adopt_materializers, materializer_for
from loopwright.pipelines.values import MODEL, is_model, load_value, log_value_model
from loopwright.store.entities import DatasetInput, StepIO, now_ms
from loopwright.tracking import fluent
from loopwright.tracking.client import shared_client
from loopwright.tracking.datasets import fingerprint

LOGS_TAIL = 4000
ATTEMPT_TAG = "loopwright.attempt"
log = logging.getLogger(__name__)

Spec = dict[str, Any]


@dataclass
class StepTask:
    """Everything a worker needs to run one node."""

    step: Any  # loopwright.pipelines.steps.Step
    node: str
    step_run_id: str
    experiment: str
    parent_run_id: str | None
    arguments: dict[str, Spec]
    store_uri: str
    artifact_uri: str
    home: str
    # materialisers registered in the coordinator: a step shipped by value may never import the
    # module that registers them, so the worker learns them from the task
    materializers: list[Materializer] = field(default_factory=list)
    # the caller's working directory: a pool or Ray worker on the same machine (or a shared file
    # system) runs the step there, so relative paths such as path="data.csv" mean the same thing
    cwd: str | None = None
    # attempts an earlier worker used up before it died (the Ray executor retries a killed worker's
    # task with the attempts it has left, so ``retries`` bounds every kind of failure together)
    first_attempt: int = 0


@dataclass
class StepOutcome:
    """What happened: status, output digests, attempts, timing, error and the tail of the logs."""

    node: str
    step_run_id: str
    status: str  # "done" | "failed"
    attempts: int
    run_id: str | None
    start_ms: int
    end_ms: int
    outputs: list[StepIO] = field(default_factory=list)
    datasets: list[DatasetInput] = field(default_factory=list)
    error: str | None = None
    logs_tail: str | None = None
    pid: int = 0

    @classmethod
    def crashed(cls, node: str, step_run_id: str, error: BaseException, attempts: int = 1) -> StepOutcome:
        """The outcome of a step whose worker died or could not be reached."""
        now = now_ms()
        return cls(
            node, step_run_id, "failed", attempts, None, now, now, error=f"{type(error).__name__}: {error}"
        )


def decode(spec: Spec, load: Callable[[str, str], Any] | None) -> Any:
    """Turn an encoded argument back into a value, loading ``$blob`` leaves with ``load``."""
    if "$value" in spec:
        return spec["$value"]
    if "$path" in spec:
        return Path(spec["$path"])
    if "$blob" in spec:
        assert load is not None
        return load(spec["$blob"]["digest"], spec["$blob"]["materializer"])
    if "$list" in spec:
        return [decode(s, load) for s in spec["$list"]]
    if "$tuple" in spec:
        return tuple(decode(s, load) for s in spec["$tuple"])
    if "$dict" in spec:
        return {k: decode(s, load) for k, s in spec["$dict"].items()}
    raise ValueError(f"unresolved argument spec {spec!r}")


def run_pickled(payload: bytes) -> StepOutcome:
    """Pool/Ray entry point: unpickle a task shipped with cloudpickle and execute it."""
    task: StepTask = cloudpickle.loads(payload)
    return execute(task, in_process=False)


def execute(task: StepTask, in_process: bool, tags: dict[str, str] | None = None) -> StepOutcome:
    """Run ``task`` with retries inside its tracking run (tagged ``tags`` too); materialise what it returns."""
    if not in_process:
        _point_environment_at(task)
        adopt_materializers(task.materializers)
    client = shared_client(task.store_uri, task.artifact_uri)  # the coordinator's stores, in process or not
    logs = io.StringIO()
    error: str | None = None
    start = now_ms()

    def load(digest: str, materializer: str) -> Any:
        return load_value(digest, materializer, client.blobs, client)

    tags = {**(tags or {}), "loopwright.step": task.step.name}
    if task.step_run_id:
        tags["loopwright.step_run"] = task.step_run_id
    if task.parent_run_id:
        tags["loopwright.pipeline_run"] = task.parent_run_id
    active = fluent.start_run(
        name=task.node,
        tags=tags,
        nested=True,
        experiment=task.experiment,
        parent_id=task.parent_run_id,
        client=client,
    )
    try:
        with _captured(logs), _working_dir(None if in_process else task.cwd):
            error, attempts, outputs, datasets = _attempts(task, load, client, logs, active.id)
    except BaseException as exc:  # interrupted: the run must not end "finished"
        error = f"{type(exc).__name__}: {exc}"
        raise
    finally:
        fluent.end_run("failed" if error else "finished", error=error, run_id=active.id)
    tail = logs.getvalue()[-LOGS_TAIL:] or None
    return StepOutcome(
        node=task.node,
        step_run_id=task.step_run_id,
        status="failed" if error else "done",
        attempts=attempts,
        run_id=active.id,
        start_ms=start,
        end_ms=now_ms(),
        outputs=outputs,
        datasets=datasets,
        error=error,
        logs_tail=tail,
        pid=os.getpid(),
    )


@contextlib.contextmanager
def _working_dir(path: str | None) -> Iterator[None]:
    """Run in ``path`` if this worker has it (else where the worker is), then go back."""
    if path is None or not os.path.isdir(path):
        yield
        return
    before = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(before)


def _attempts(
    task: StepTask, load: Callable[[str, str], Any], client: Any, logs: io.StringIO, run_id: str
) -> tuple[str | None, int, list[StepIO], list[DatasetInput]]:
    """Decode the inputs, call the step up to ``retries + 1`` times, materialise the value."""
    options = task.step.options
    blobs = client.blobs
    try:
        arguments = {name: decode(spec, load) for name, spec in task.arguments.items()}
    except Exception as exc:
        traceback.print_exc(file=logs)
        return _summary(exc), task.first_attempt, [], []
    error: str | None = None
    for attempt in range(task.first_attempt, options.retries + 1):
        if attempt:
            time.sleep(options.retry_delay * options.backoff ** (attempt - 1))
        if attempt > task.first_attempt:
            # if this worker dies in this attempt, the executor reads how many it used from here
            client.set_tag(run_id, ATTEMPT_TAG, attempt + 1)
        try:
            value = task.step.call(arguments)
        except Exception as exc:
            error = _summary(exc)
            print(f"attempt {attempt + 1} failed:", file=logs)
            traceback.print_exc(file=logs)
            continue
        try:
            outputs, datasets = _materialise(task, value, blobs, run_id, arguments)
        except Exception as exc:  # not retried: the same value fails the same way
            traceback.print_exc(file=logs)
            return _summary(exc), attempt + 1, [], []
        return None, attempt + 1, outputs, datasets
    return error, options.retries + 1, [], []


def _materialise(
    task: StepTask, value: Any, blobs: Any, run_id: str, arguments: dict[str, Any]
) -> tuple[list[StepIO], list[DatasetInput]]:
    n = task.step.n_outputs
    if n > 1:
        if not isinstance(value, tuple) or len(value) != n:
            raise InvalidInput(
                f"step {task.node!r} is annotated to return {n} values but returned {type(value).__name__}"
            )
        parts: list[tuple[int | None, Any]] = list(enumerate(value))
    else:
        parts = [(None, value)]
    outputs: list[StepIO] = []
    datasets: list[DatasetInput] = []
    for index, part in parts:
        name = "output" if index is None else f"output_{index}"
        stem = f"outputs/{task.node}" if index is None else f"outputs/{task.node}.{index}"
        kind = type(part)
        type_name = f"{kind.__module__}.{kind.__qualname__}"
        if is_model(part):
            digest = log_value_model(part, run_id, stem, inputs=arguments)  # signed by its training frame
            outputs.append(StepIO("out", name, "artifact", digest, None, MODEL, type_name, stem))
            continue
        try:
            materializer = materializer_for(part)
        except InvalidInput as exc:
            where = "" if index is None else f" (output {index})"
            raise InvalidInput(f"step {task.node!r}{where}: {exc}") from None
        digest, size = blobs.put_bytes(materializer.dumps(part))
        dataset = _dataset(part, task.node if index is None else f"{task.node}.{name}")
        if dataset is not None:
            datasets.append(dataset)
        outputs.append(
            StepIO(
                direction="out",
                name=name,
                kind="artifact",
                digest=digest,
                size=size,
                materializer=materializer.name,
                type_name=type_name,
                path=f"{stem}.{materializer.ext}",
                dataset_digest=dataset.digest if dataset else None,
                n_rows=dataset.n_rows if dataset else None,
            )
        )
    return outputs, datasets


def _dataset(value: Any, name: str) -> DatasetInput | None:
    module = type(value).__module__.split(".")[0]
    if module not in ("pandas", "polars", "numpy", "pyarrow"):
        return None
    try:
        return fingerprint(value, name=name[:256], context="output")
    except Exception:  # a 3-d array of objects, say: an artifact, not a dataset
        return None


def _summary(exc: BaseException) -> str:
    return "".join(traceback.format_exception_only(type(exc), exc)).strip()


def _point_environment_at(task: StepTask) -> None:
    """Make the fluent API in this worker write to the coordinator's stores."""
    wanted = {
        "LOOPWRIGHT_STORE_URI": task.store_uri,
        "LOOPWRIGHT_ARTIFACT_URI": task.artifact_uri,
        "LOOPWRIGHT_HOME": task.home,
    }
    for key, value in wanted.items():
        if os.environ.get(key) != value:
            os.environ[key] = value


class _Tee(io.TextIOBase):
    def __init__(self, *streams: TextIO | io.StringIO):
        self.streams = streams

    def write(self, text: str) -> int:
        for stream in self.streams:
            stream.write(text)
        return len(text)

    def flush(self) -> None:
        for stream in self.streams:
            stream.flush()


@contextlib.contextmanager
def _captured(buffer: io.StringIO) -> Iterator[None]:
    """Copy stdout, stderr and log records of the step into ``buffer`` (still shown as usual)."""
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        with (
            contextlib.redirect_stdout(_Tee(sys.stdout, buffer)),
            contextlib.redirect_stderr(_Tee(sys.stderr, buffer)),
        ):
            yield
    finally:
        root.removeHandler(handler)


__all__ = ["ATTEMPT_TAG", "StepOutcome", "StepTask", "decode", "execute", "run_pickled"]
