"""The coordinator: build the DAG, decide per node cache hit or run, hand ready nodes to an executor.

For each node whose upstream nodes are done it resolves the arguments (upstream outputs become
blob digests), computes the cache key, and either records a cache hit (one store transaction,
nothing executed) or starts a step run and submits it. A failed node marks everything downstream
``skipped``; independent branches still finish. The pipeline run ends ``failed`` naming the step.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import TYPE_CHECKING, Any

from loopwright.artifacts.blobs import sha256_file
from loopwright.errors import InvalidInput
from loopwright.pipelines.executors import get_executor
from loopwright.pipelines.fingerprints import cache_key
from loopwright.pipelines.graph import Graph, Node, Output, iter_outputs
from loopwright.pipelines.materializers import is_jsonable, materializer_for, registered_materializers
from loopwright.pipelines.results import PipelineFailed, PipelineResult
from loopwright.pipelines.tasks import Spec, StepOutcome, StepTask
from loopwright.pipelines.values import MODEL, is_model, log_value_model
from loopwright.store.entities import ArtifactRef, CacheHit, DatasetInput, StepIO, StepRun
from loopwright.tracking import fluent
from loopwright.tracking.client import Client, get_client
from loopwright.tracking.datasets import fingerprint

if TYPE_CHECKING:
    from loopwright.pipelines.pipeline import Pipeline

log = logging.getLogger(__name__)

MAX_PARAM_TEXT = 500


@dataclass(frozen=True)
class StepEvent:
    """A node changed status: ``pending``, ``running``, ``cached``, ``done``, ``failed`` or ``skipped``."""

    node: str
    status: str
    duration: float | None = None
    error: str | None = None
    attempts: int = 0


Progress = Callable[[StepEvent], None]


@dataclass
class _Prepared:
    node: Node
    step_run_id: str
    arguments: dict[str, Spec]
    key: str
    inputs: list[StepIO]
    datasets: list[DatasetInput]
    params: dict[str, str]


@dataclass
class _State:
    outputs: dict[str, list[StepIO]] = field(default_factory=dict)
    datasets: dict[str, DatasetInput] = field(default_factory=dict)  # blob digest → fingerprint
    failed: dict[str, str] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)


def run_pipeline(
    pipeline: Pipeline,
    params: Mapping[str, Any],
    *,
    executor: str = "local",
    address: str | None = None,
    cache: bool = True,
    resume: str | None = None,
    experiment: str | None = None,
    parent_id: str | None = None,
    progress: Progress | None = None,
    client: Client | None = None,
) -> PipelineResult:
    """Run ``pipeline`` with ``params``; see :meth:`loopwright.pipelines.Pipeline.run`."""
    client = client if client is not None else get_client()
    store = client.store
    resumed: dict[str, StepRun] = {}
    if resume is not None:
        old = store.get_pipeline_run(resume)
        if old.pipeline != pipeline.name:
            raise InvalidInput(f"run {resume!r} is of pipeline {old.pipeline!r}, not {pipeline.name!r}")
        params = {**{k: v for k, v in old.params.items() if k in pipeline.parameters}, **params}
        resumed = {s.node: s for s in old.steps if s.status in ("done", "cached")}
    bound = pipeline.bind(params)
    graph = pipeline.build(bound)
    if not graph.nodes:
        raise InvalidInput(f"pipeline {pipeline.name!r} calls no step")
    experiment_name = experiment or fluent.chosen_experiment() or pipeline.name
    exp = client.get_or_create_experiment(experiment_name)
    active = fluent.active_run()
    if parent_id is None and active is not None and active.client.store.uri == client.store.uri:
        parent_id = active.id  # nested under the caller's run when both live in one store
    executor_impl = get_executor(executor, address)
    run = store.start_pipeline_run(
        exp.id,
        pipeline.name,
        [(n.name, n.step.name, n.upstream) for n in graph.nodes.values()],
        {k: param_record(v) for k, v in bound.items()},
        executor_impl.label,
        cache=cache,
        ref=pipeline.ref,
        parent_id=parent_id,
        resumed_from=resume,
    )
    coordinator = _Coordinator(client, graph, run.id, {s.node: s.id for s in run.steps}, executor_impl)
    coordinator.cache = cache
    coordinator.experiment = exp.name
    coordinator.resumed = resumed
    coordinator.progress = progress
    try:
        coordinator.encode_constants()
        coordinator.loop()
    except BaseException as exc:
        executor_impl.close()
        coordinator.flush_hits()
        store.finish_pipeline_run(run.id, "failed", f"{type(exc).__name__}: {exc}")
        raise
    executor_impl.close()
    state = coordinator.state
    failed_nodes = [n for n in graph.nodes if n in state.failed]
    error = None
    if failed_nodes:
        first = failed_nodes[0]
        error = f"step {first!r} failed: {state.failed[first]}"
    store.finish_pipeline_run(run.id, "failed" if error else "finished", error)
    output_spec = coordinator.output_spec()
    result = PipelineResult(store.get_pipeline_run(run.id), client, output_spec)
    if error:
        raise PipelineFailed(
            f"pipeline {pipeline.name!r} run {run.id} failed: {error}"
            + (f"; skipped {sorted(state.skipped)}" if state.skipped else ""),
            result,
            failed_nodes[0],
        )
    return result


class _Coordinator:
    def __init__(
        self, client: Client, graph: Graph, run_id: str, step_run_ids: dict[str, str], executor: Any
    ):
        self.client = client
        self.store = client.store
        self.graph = graph
        self.run_id = run_id
        self.step_run_ids = step_run_ids
        self.executor = executor
        self.cache = True
        self.resumed: dict[str, StepRun] = {}
        self.progress: Progress | None = None
        self.state = _State()
        self.specs: dict[str, dict[str, Spec]] = {}
        self._input_refs: list[ArtifactRef] = []
        self._started: dict[str, _Prepared] = {}
        self.experiment = ""
        self._hits: list[CacheHit] = []  # written in one transaction per scheduling round
        self._input_datasets: list[DatasetInput] = []

    # -- arguments ---------------------------------------------------------------------------
    def encode_constants(self) -> None:
        """Encode every node's arguments; constants that are not JSON become blobs (pipeline inputs)."""
        for node in self.graph.nodes.values():
            self.specs[node.name] = {
                arg: self._encode(value, f"{node.name}.{arg}") for arg, value in node.arguments.items()
            }
        if self._input_refs:
            self.store.record_artifacts("run", self.run_id, self._input_refs)
        if self._input_datasets:
            self.store.log_dataset_inputs(self.run_id, self._input_datasets)
        for name in self.graph.nodes:
            self._emit(StepEvent(name, "pending"))

    def _encode(self, value: Any, where: str) -> Spec:
        if isinstance(value, Output):
            return {"$ref": [value.node, value.index]}
        has_outputs = any(True for _ in iter_outputs(value))
        if isinstance(value, tuple) and (has_outputs or is_jsonable(value)):
            return {"$tuple": [self._encode(v, f"{where}.{i}") for i, v in enumerate(value)]}
        if isinstance(value, list) and has_outputs:
            return {"$list": [self._encode(v, f"{where}.{i}") for i, v in enumerate(value)]}
        if isinstance(value, dict) and has_outputs:
            if not all(isinstance(k, str) for k in value):
                raise InvalidInput(f"{where}: a dict holding step outputs needs string keys")
            return {"$dict": {k: self._encode(v, f"{where}.{k}") for k, v in value.items()}}
        if is_jsonable(value):
            return {"$value": value}
        if isinstance(value, PurePath):
            return {"$path": str(value)}
        if is_model(value):
            digest = log_value_model(value, self.run_id, f"inputs/{where}", client=self.client)
            return {"$blob": {"digest": digest, "materializer": MODEL}}
        materializer = materializer_for(value)
        digest, size = self.client.blobs.put_bytes(materializer.dumps(value))
        self._input_refs.append(ArtifactRef(f"inputs/{where}.{materializer.ext}", digest, size))
        if type(value).__module__.split(".")[0] in ("pandas", "polars", "numpy", "pyarrow"):
            dataset = fingerprint(value, name=where[:256], context="input")
            self._input_datasets.append(dataset)
            self.state.datasets[digest] = dataset
        return {"$blob": {"digest": digest, "materializer": materializer.name}}

    def _resolve(self, spec: Spec) -> Spec:
        if "$ref" in spec:
            node, index = spec["$ref"]
            outs = self.state.outputs[node]
            if index is not None:
                return _blob(outs[index])
            if len(outs) == 1 and outs[0].name == "output":
                return _blob(outs[0])
            return {"$tuple": [_blob(o) for o in outs]}
        if "$list" in spec:
            return {"$list": [self._resolve(s) for s in spec["$list"]]}
        if "$tuple" in spec:
            return {"$tuple": [self._resolve(s) for s in spec["$tuple"]]}
        if "$dict" in spec:
            return {"$dict": {k: self._resolve(s) for k, s in spec["$dict"].items()}}
        return spec

    def _prepare(self, node: Node) -> _Prepared:
        arguments = {arg: self._resolve(spec) for arg, spec in self.specs[node.name].items()}
        key, inputs, datasets, params = describe_arguments(
            node.name, node.step, arguments, self.state.datasets
        )
        return _Prepared(node, self.step_run_ids[node.name], arguments, key, inputs, datasets, params)

    # -- scheduling ----------------------------------------------------------------------------
    def loop(self) -> None:
        pending = list(self.graph.nodes)
        state = self.state
        while True:
            ready: list[_Prepared] = []
            progressed = True
            while progressed:
                progressed = False
                for name in list(pending):
                    node = self.graph.nodes[name]
                    blocked = [u for u in node.upstream if u in state.failed or u in state.skipped]
                    if blocked:
                        pending.remove(name)
                        cause = state.skipped.get(blocked[0], blocked[0])
                        state.skipped[name] = cause
                        self.store.skip_step_runs(
                            [self.step_run_ids[name]], f"upstream step {cause!r} failed"
                        )
                        self._emit(StepEvent(name, "skipped"))
                        continue
                    if not all(u in state.outputs for u in node.upstream):
                        continue
                    pending.remove(name)
                    prepared = self._prepare(node)
                    if self._try_cache(prepared):
                        progressed = True
                    else:
                        ready.append(prepared)
            self.flush_hits()
            if ready:
                self.executor.submit([self._start(p) for p in ready])
            if self.executor.in_flight() == 0:
                break
            for outcome in self.executor.wait():
                self._finish(outcome)

    def flush_hits(self) -> None:
        hits, self._hits = self._hits, []
        self.store.record_cache_hits(hits)

    def _try_cache(self, prepared: _Prepared) -> bool:
        node = prepared.node
        source = self.resumed.get(node.name)
        if source is None or source.cache_key != prepared.key:
            source = None
            if self.cache and node.step.options.cache:
                source = self.store.find_cached_step(prepared.key)
        if source is None or not source.outputs:
            return False
        if not all(self.client.blobs.exists(o.digest) for o in source.outputs):
            return False  # the blobs were garbage-collected: run the step again
        produced = self._output_datasets(source)
        self._hits.append(
            CacheHit(
                prepared.step_run_id,
                prepared.key,
                source,
                prepared.params,
                prepared.inputs,
                [*prepared.datasets, *produced.values()],
            )
        )
        self.state.outputs[node.name] = source.outputs
        for out in source.outputs:
            if out.dataset_digest in produced:
                self.state.datasets[out.digest] = produced[out.dataset_digest]
        self._emit(StepEvent(node.name, "cached", 0.0))
        return True

    def _output_datasets(self, source: StepRun) -> dict[str, DatasetInput]:
        """Fingerprints of the frames a reused step run wrote, by fingerprint digest, so the cache
        hit's run and the steps downstream of it record them as a fresh run would."""
        wanted = {o.dataset_digest for o in source.outputs if o.dataset_digest}
        if not wanted or source.run_id is None:
            return {}
        return {
            d.digest: d
            for d in self.store.get_dataset_inputs(source.run_id)
            if d.context == "output" and d.digest in wanted
        }

    def _start(self, prepared: _Prepared) -> StepTask:
        self.store.start_step_run(prepared.step_run_id, prepared.key, prepared.inputs)
        self._started[prepared.step_run_id] = prepared
        self._emit(StepEvent(prepared.node.name, "running"))
        settings = self.client.settings
        return StepTask(
            step=prepared.node.step,
            node=prepared.node.name,
            step_run_id=prepared.step_run_id,
            experiment=self.experiment,
            parent_run_id=self.run_id,
            arguments=prepared.arguments,
            store_uri=self.store.uri,
            artifact_uri=self.client.blobs.root,
            home=str(settings.home),
            materializers=registered_materializers(),
            cwd=os.getcwd(),
        )

    def _finish(self, outcome: StepOutcome) -> None:
        prepared = self._started.pop(outcome.step_run_id)
        self.store.finish_step_run(
            outcome.step_run_id,
            "done" if outcome.status == "done" else "failed",
            outcome.attempts,
            run_id=outcome.run_id,
            params=prepared.params,
            outputs=outcome.outputs,
            datasets=[*prepared.datasets, *outcome.datasets],
            error=outcome.error,
            logs_tail=outcome.logs_tail,
            start_ms=outcome.start_ms,
            end_ms=outcome.end_ms,
        )
        duration = (outcome.end_ms - outcome.start_ms) / 1000
        if outcome.status == "done":
            self.state.outputs[outcome.node] = outcome.outputs
            by_digest = {d.digest: d for d in outcome.datasets}
            for out in outcome.outputs:
                if out.dataset_digest in by_digest:
                    self.state.datasets[out.digest] = by_digest[out.dataset_digest]
        else:
            self.state.failed[outcome.node] = outcome.error or "unknown error"
        self._emit(StepEvent(outcome.node, outcome.status, duration, outcome.error, outcome.attempts))

    def _emit(self, event: StepEvent) -> None:
        if self.progress is not None:
            try:
                self.progress(event)
            except Exception:
                log.exception("pipeline progress callback failed")

    def output_spec(self) -> Spec | None:
        """The pipeline function's return value with step outputs as blobs, if all are available."""
        if self.graph.result is None:
            return None
        try:
            spec = self._encode_result(self.graph.result)
            return self._resolve(spec)
        except (KeyError, InvalidInput):
            return None

    def _encode_result(self, value: Any) -> Spec:
        if isinstance(value, Output):
            return {"$ref": [value.node, value.index]}
        if isinstance(value, (list, tuple)):
            key = "$tuple" if isinstance(value, tuple) else "$list"
            return {key: [self._encode_result(v) for v in value]}
        if isinstance(value, dict) and all(isinstance(k, str) for k in value):
            return {"$dict": {k: self._encode_result(v) for k, v in value.items()}}
        if is_jsonable(value):
            return {"$value": value}
        if isinstance(value, PurePath):
            return {"$path": str(value)}
        raise InvalidInput("not a storable pipeline result")


def describe_arguments(
    node: str, step: Any, arguments: Mapping[str, Spec], known: Mapping[str, DatasetInput]
) -> tuple[str, list[StepIO], list[DatasetInput], dict[str, str]]:
    """A node's resolved arguments as its cache key, input records, dataset inputs and params.

    The key covers the step's source, the argument values and blob digests, and the *content* of
    any local file a string argument names (so a file changed under the same path misses).
    ``known`` maps blob digests to the fingerprints of the frames they hold. The coordinator and
    ``exec-step`` in a Kubeflow pod call it, so both hit the same cache entries.

    Examples
    --------
    ``describe_arguments("load", load, {"path": {"$value": "data.csv"}}, {})`` →
    ``(key, [StepIO("in", "path", "file", <sha256 of data.csv>, …)], [], {"path": "data.csv"})``
    """
    files: dict[str, str] = {}
    inputs: list[StepIO] = []
    params: dict[str, str] = {}
    for arg, spec in arguments.items():
        if "$value" in spec or "$path" in spec:
            value = spec["$value"] if "$value" in spec else spec["$path"]
            if not isinstance(value, (dict, list)):
                params[arg] = str(value)[:MAX_PARAM_TEXT]
            file = _local_file(value)
            if file is not None:
                digest, size = file
                files[arg] = digest
                inputs.append(StepIO("in", arg, "file", digest, size, path=os.path.abspath(value)))
    datasets: list[DatasetInput] = []
    for name, blob in _blobs(arguments):
        dataset = known.get(blob["digest"])
        if dataset is not None:
            datasets.append(_as_input(dataset, f"{node}.{name}"))
        inputs.append(
            StepIO(
                "in",
                name,
                "artifact",
                blob["digest"],
                materializer=blob["materializer"],
                dataset_digest=dataset.digest if dataset else None,
                n_rows=dataset.n_rows if dataset else None,
            )
        )
    return cache_key(step.source_digest, arguments, files), inputs, datasets, params


def param_record(value: Any) -> Any:
    """A parameter as the pipeline run records it: JSON as is, a path as text, else its type."""
    if is_jsonable(value):
        return value
    if isinstance(value, PurePath):
        return str(value)
    return f"<{type(value).__name__}>"


def _blob(out: StepIO) -> Spec:
    return {"$blob": {"digest": out.digest, "materializer": out.materializer}}


def _blobs(arguments: Mapping[str, Spec]) -> list[tuple[str, dict[str, str]]]:
    found: list[tuple[str, dict[str, str]]] = []

    def walk(spec: Spec, name: str) -> None:
        if "$blob" in spec:
            found.append((name, spec["$blob"]))
        for key in ("$list", "$tuple"):
            for i, item in enumerate(spec.get(key, ())):
                walk(item, f"{name}.{i}")
        for k, item in spec.get("$dict", {}).items():
            walk(item, f"{name}.{k}")

    for arg, spec in arguments.items():
        walk(spec, arg)
    return found


def _as_input(dataset: DatasetInput, name: str) -> DatasetInput:
    return DatasetInput(name[:256], dataset.digest, dataset.n_rows, dataset.schema, "input", dataset.source)


_file_digests: dict[tuple[str, int, int], tuple[str, int]] = {}


def _local_file(value: Any) -> tuple[str, int] | None:
    """Digest and size of the local file a string argument names (memoised by mtime and size)."""
    if not isinstance(value, str) or not value or len(value) > 4096 or "\n" in value:
        return None
    try:
        stat = os.stat(value)
    except (OSError, ValueError):
        return None
    if not os.path.isfile(value):
        return None
    memo = (os.path.abspath(value), stat.st_mtime_ns, stat.st_size)
    if memo not in _file_digests:
        _file_digests[memo] = sha256_file(value)
    return _file_digests[memo]


__all__ = ["Progress", "StepEvent", "describe_arguments", "run_pipeline"]
