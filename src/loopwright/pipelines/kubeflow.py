"""Export a pipeline to a Kubeflow Pipelines v2 spec with the ``kfp`` SDK's compiler (offline).

Each DAG node becomes one container component running ``loopwright pipeline exec-step REF NODE``
in the given image. Pipeline parameters become KFP pipeline inputs (typed from the pipeline
function's annotations); a step's output travels as a KFP output parameter holding the blob
digests, so every pod reads its inputs from the shared artifact store by digest — set
``LOOPWRIGHT_STORE_URI`` / ``LOOPWRIGHT_ARTIFACT_URI`` (PostgreSQL, S3) with ``env=``; a value
carrying a credential (a URI with a password, ``AWS_SECRET_ACCESS_KEY``…) is never written into
the spec: the pod reads it from the Kubernetes Secret ``secret`` (key = the variable's name).

Fidelity: KFP's own cache is off on every task (it keys on input *values*, so a file changed
under the same path would be reused); ``exec-step`` consults Loopwright's content-addressed step
cache instead. ``@step(retries=…)`` becomes the task's retry policy (same backoff) and
``resources`` its CPU/memory requests and limits and GPU accelerator. Every task gets the KFP run
id (``{{$.pipeline_job_uuid}}``), so the steps of one KFP run join one Loopwright pipeline run.

The DAG is built with placeholder parameters, so the pipeline body must pass its parameters
straight to steps (no arithmetic or branching on them) for the export to be faithful.
"""

from __future__ import annotations

import inspect
import json
import math
import os
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml

from loopwright.errors import InvalidInput, NotFound
from loopwright.pipelines.graph import Graph, Node, Output, building
from loopwright.pipelines.materializers import is_jsonable, registered_materializers
from loopwright.pipelines.pipeline import Pipeline
from loopwright.pipelines.runner import describe_arguments, param_record
from loopwright.pipelines.steps import Step, StepOptions
from loopwright.pipelines.tasks import Spec, StepTask, execute
from loopwright.store import Store, mask_password
from loopwright.store.entities import CacheHit, PipelineRun, StepIO
from loopwright.tracking.client import Client, get_client

DEFAULT_IMAGE = "ghcr.io/loopwright/loopwright:latest"
DEFAULT_SECRET = "loopwright"
DEFAULT_ACCELERATOR = "nvidia.com/gpu"
# what KFP substitutes with the run's id in a container's command (kfp.dsl.PIPELINE_JOB_ID_PLACEHOLDER)
KFP_RUN_PLACEHOLDER = "{{$.pipeline_job_uuid}}"
KFP_RUN_TAG = "loopwright.kfp_run"
SETTLE_SECONDS = 0.5
_CREDENTIAL_WORDS = ("SECRET", "PASSWORD", "TOKEN", "CREDENTIAL", "ACCESS_KEY", "PRIVATE_KEY")
_KFP_TYPES = {float: "Float", int: "Integer", bool: "Boolean", str: "String"}


class Param:
    """Stands for a pipeline parameter while the DAG is built for export."""

    def __init__(self, name: str):
        self.name = name

    def __repr__(self) -> str:
        return f"<pipeline parameter {self.name}>"


def run_kfp_step(
    pipeline: Pipeline, node: str, arguments: Mapping[str, Spec], kfp_run: str | None = None
) -> list[StepIO]:
    """Run one node the way a KFP pod does (``loopwright pipeline exec-step``); return its outputs.

    The step joins the Loopwright pipeline run of KFP run ``kfp_run`` (the first step of the run
    creates it, tagged ``loopwright.kfp_run``), is a cache hit when a step run with the same
    content key exists (KFP's own cache is off), else runs one attempt: KFP owns the retries, so
    the pipeline run fails (and the steps below are skipped) only when the last attempt fails.
    The pipeline run ends when its last step does.

    Examples
    --------
    ``run_kfp_step(churn, "load", {"path": {"$value": "data.csv"}}, kfp_run="4f1c…")`` →
    ``[StepIO(direction="out", name="output", digest=…)]``
    """
    graph = placeholder_graph(pipeline)
    if node not in graph.nodes:
        raise NotFound(f"pipeline {pipeline.name!r} has no step {node!r}")
    if kfp_run is not None and not re.fullmatch(r"[\w.${}-]{1,200}", kfp_run):
        raise InvalidInput(f"exec-step: --kfp-run {kfp_run!r} is not a KFP run id")
    client = get_client()
    store = client.store
    graph_node = graph.nodes[node]
    params = {
        value.name: param_record(arguments[arg]["$value"])
        for arg, value in graph_node.arguments.items()
        if isinstance(value, Param) and "$value" in arguments.get(arg, {})
    }
    run = _join_run(client, pipeline, graph, kfp_run, params)
    step_run = next(s for s in run.steps if s.node == node)
    if step_run.status in ("done", "cached"):  # KFP reran a pod whose step had finished
        return store.get_step_run(step_run.id).outputs
    step = graph_node.step
    key, inputs, datasets, step_params = describe_arguments(node, step, arguments, {})
    source = store.find_cached_step(key) if step.options.cache else None
    if source is not None and source.outputs and all(client.blobs.exists(o.digest) for o in source.outputs):
        store.record_cache_hits([CacheHit(step_run.id, key, source, step_params, inputs, datasets)])
        _finish_if_complete(store, run.id)
        return source.outputs
    if step_run.status == "pending":  # else KFP retries a failed or lost attempt: already started
        store.start_step_run(step_run.id, key, inputs)
    task = StepTask(
        Step(step.fn, replace(step.options, retries=0)),  # one attempt: KFP's retry policy does the rest
        node,
        step_run.id,
        experiment=pipeline.name,
        parent_run_id=run.id,
        arguments=dict(arguments),
        store_uri=store.uri,
        artifact_uri=client.blobs.root,
        home=str(client.settings.home),
        materializers=registered_materializers(),
    )
    outcome = execute(task, in_process=True)
    attempts = step_run.attempts + outcome.attempts
    store.finish_step_run(
        step_run.id,
        "done" if outcome.status == "done" else "failed",
        attempts,
        run_id=outcome.run_id,
        params=step_params,
        outputs=outcome.outputs,
        datasets=[*datasets, *outcome.datasets],
        error=outcome.error,
        logs_tail=outcome.logs_tail,
        start_ms=outcome.start_ms,
        end_ms=outcome.end_ms,
    )
    if outcome.status != "done":
        if attempts > step.options.retries:  # the last attempt: KFP runs nothing below it
            below = _downstream(graph, node)
            store.skip_step_runs(
                [s.id for s in run.steps if s.node in below], f"upstream step {node!r} failed"
            )
            store.finish_pipeline_run(run.id, "failed", f"step {node!r} failed: {outcome.error}")
        raise InvalidInput(f"step {node!r} failed: {outcome.error}")
    _finish_if_complete(store, run.id)
    return outcome.outputs


def _join_run(
    client: Client, pipeline: Pipeline, graph: Graph, kfp_run: str | None, params: Mapping[str, Any]
) -> PipelineRun:
    """The pipeline run of KFP run ``kfp_run``: found by tag, else created (a new one without it)."""
    store = client.store
    experiment = client.get_or_create_experiment(pipeline.name)
    if kfp_run is not None:
        found = _tagged_run(store, experiment.id, kfp_run)
        if found is not None:
            return store.get_pipeline_run(found)
    nodes = [(n.name, n.step.name, n.upstream) for n in graph.nodes.values()]
    run = store.start_pipeline_run(experiment.id, pipeline.name, nodes, params, "kfp", ref=pipeline.ref)
    if kfp_run is None:
        return run
    store.set_tags(run.id, {KFP_RUN_TAG: kfp_run})
    # two first steps running at once may both have created one: all agree on the oldest. The
    # pause lets a creator that started earlier but tags later be seen; nothing is recorded in
    # the step runs yet, so the others can still drop theirs.
    time.sleep(SETTLE_SECONDS)
    winner = _tagged_run(store, experiment.id, kfp_run)
    if winner is not None and winner != run.id:
        store.delete_run(run.id)
        return store.get_pipeline_run(winner)
    return run


def _tagged_run(store: Store, experiment_id: str, kfp_run: str) -> str | None:
    found = store.search_runs(
        [experiment_id],
        filter=f"tags.`{KFP_RUN_TAG}` = '{kfp_run}'",
        order_by=["start_time ASC", "run_id ASC"],
        max_results=1,
    )
    return found[0].id if found else None


def _finish_if_complete(store: Store, run_id: str) -> None:
    run = store.get_pipeline_run(run_id)
    if run.status == "running" and all(
        s.status in ("done", "cached", "skipped", "failed") for s in run.steps
    ):
        failed = [s for s in run.steps if s.status == "failed"]
        error = f"step {failed[0].node!r} failed: {failed[0].error}" if failed else None
        store.finish_pipeline_run(run_id, "failed" if failed else "finished", error)


def _downstream(graph: Graph, node: str) -> set[str]:
    below: set[str] = set()
    for name, other in graph.nodes.items():  # insertion order is topological
        if node in other.upstream or below.intersection(other.upstream):
            below.add(name)
    return below


def placeholder_graph(pipeline: Pipeline) -> Graph:
    """The DAG with :class:`Param` placeholders for the parameters (node names match a real run's)."""
    params = {name: Param(name) for name in pipeline.parameters}
    try:
        with building() as graph:
            pipeline.fn(**params)
    except InvalidInput:
        raise
    except Exception as exc:
        raise InvalidInput(
            f"cannot export pipeline {pipeline.name!r}: its body computed with a parameter ({exc}); "
            "pass parameters straight to steps"
        ) from None
    return graph


def compile_pipeline(
    pipeline: Pipeline,
    path: str | os.PathLike[str],
    target: str = "kfp",
    image: str = DEFAULT_IMAGE,
    ref: str | None = None,
    env: Mapping[str, str] | None = None,
    secret: str = DEFAULT_SECRET,
    secret_env: Sequence[str] = (),
    accelerator: str = DEFAULT_ACCELERATOR,
) -> Path:
    """Write ``pipeline`` as a Kubeflow Pipelines v2 YAML spec.

    Parameters
    ----------
    pipeline:
        A :func:`~loopwright.pipeline`.
    path:
        Where to write the YAML.
    target:
        Only ``"kfp"``.
    image:
        Container image with Loopwright and the pipeline's module installed.
    ref:
        ``module:name`` the pods import (default: where the pipeline was defined).
    env:
        Environment for every pod, e.g. the artifact URI. A value holding a credential (see
        :func:`is_credential`) is not written: the pod reads it from ``secret``.
    secret:
        The Kubernetes Secret credentials come from; its keys are the variables' names.
    secret_env:
        More variables to read from ``secret`` (e.g. ``["LOOPWRIGHT_STORE_URI"]``).
    accelerator:
        The accelerator type a step's ``num_gpus`` asks for.

    Returns
    -------
    pathlib.Path

    Examples
    --------
    ``lw.compile_pipeline(churn, "churn.yaml")`` ≡ ``loopwright pipeline compile module:churn --target kfp -o churn.yaml``

    >>> import loopwright as lw, os, tempfile, yaml
    >>> @lw.step
    ... def inc(x: int) -> int:
    ...     return x + 1
    >>> @lw.pipeline
    ... def count(x: int = 0):
    ...     return inc(inc(x))
    >>> path = lw.compile_pipeline(count, os.path.join(tempfile.mkdtemp(), "count.yaml"), ref="flows:count")
    >>> sorted(yaml.safe_load(path.read_text())["root"]["dag"]["tasks"])
    ['inc', 'inc-2']

    ``lw.compile_pipeline(churn, "churn.yaml", env={"LOOPWRIGHT_STORE_URI": "postgresql+psycopg://ml:pw@db/lw"})``
    writes no password: the pods read ``LOOPWRIGHT_STORE_URI`` from the Secret ``loopwright``
    (``kubectl create secret generic loopwright --from-literal=LOOPWRIGHT_STORE_URI=…``).
    """
    if target != "kfp":
        raise InvalidInput(f"unknown compile target {target!r}: only 'kfp' is supported")
    try:
        from kfp import compiler, components, dsl, kubernetes
    except ImportError:
        raise InvalidInput(
            'compiling for Kubeflow needs the kfp SDK and kfp-kubernetes: pip install "loopwright[kfp]"'
        ) from None
    plain, secret_names = split_env(env or {}, secret_env)
    ref = ref or pipeline.ref
    if ref.startswith("__main__:"):
        raise InvalidInput("the pipeline is defined in __main__; pass ref='module:name' that pods can import")
    graph = placeholder_graph(pipeline)
    kinds = {
        name: _KFP_TYPES.get(_annotation(param.annotation, pipeline.fn), "String")
        for name, param in pipeline.signature.parameters.items()
    }
    factories = {
        name: components.load_component_from_text(_component_yaml(node, kinds, ref, image))
        for name, node in graph.nodes.items()
    }
    signature = pipeline.signature

    def body(*values: Any) -> None:
        given = dict(zip(pipeline.parameters, values, strict=True))
        tasks: dict[str, Any] = {}
        for name, node in graph.nodes.items():
            inputs = {}
            for arg, value in node.arguments.items():
                key = _input_name(arg)
                if isinstance(value, Param):
                    inputs[key] = given[value.name]
                elif isinstance(value, Output):
                    inputs[key] = tasks[value.node].outputs["outputs"]
                else:
                    inputs[key] = json.dumps(value)
            task = factories[name](**inputs)
            task.set_display_name(name)
            # KFP's cache keys on input values: a file changed under the same path would be
            # reused. exec-step consults Loopwright's content-addressed cache instead.
            task.set_caching_options(False)
            for key, val in plain.items():
                task.set_env_variable(key, val)
            if secret_names:
                kubernetes.use_secret_as_env(task, secret, {key: key for key in secret_names})
            _apply_options(task, node.step.options, accelerator)
            tasks[name] = task

    parameters = []
    for param in signature.parameters.values():
        annotation = _annotation(param.annotation, pipeline.fn)
        parameters.append(
            inspect.Parameter(
                param.name,
                inspect.Parameter.POSITIONAL_OR_KEYWORD,
                default=param.default,
                annotation=annotation,
            )
        )
    body.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    body.__annotations__ = {p.name: p.annotation for p in parameters}
    body.__name__ = pipeline.name
    body.__doc__ = pipeline.fn.__doc__ or f"Loopwright pipeline {pipeline.name}"
    compiled = dsl.pipeline(name=_kfp_name(pipeline.name))(body)
    target_path = Path(path)
    target_path.parent.mkdir(parents=True, exist_ok=True)
    compiler.Compiler().compile(compiled, str(target_path))
    return target_path


def is_credential(name: str, value: str) -> bool:
    """Whether an environment variable holds a secret: a URI with a password or a credential's name.

    Examples
    --------
    >>> is_credential("LOOPWRIGHT_STORE_URI", "postgresql+psycopg://ml:pw@db/lw")
    True
    >>> is_credential("AWS_SECRET_ACCESS_KEY", "abc"), is_credential("LOOPWRIGHT_ARTIFACT_URI", "s3://b/lw")
    (True, False)
    """
    return mask_password(value) != value or any(word in name.upper() for word in _CREDENTIAL_WORDS)


def split_env(env: Mapping[str, str], secret_env: Sequence[str] = ()) -> tuple[dict[str, str], list[str]]:
    """``env`` split into plain values and the names the pods read from the Secret.

    Examples
    --------
    >>> split_env({"LOOPWRIGHT_STORE_URI": "postgresql+psycopg://ml:pw@db/lw", "MODE": "x"}, ["TOKEN_B"])
    ({'MODE': 'x'}, ['LOOPWRIGHT_STORE_URI', 'TOKEN_B'])
    """
    plain = {k: v for k, v in env.items() if k not in secret_env and not is_credential(k, v)}
    names = [k for k in env if k not in plain]
    return plain, names + [k for k in secret_env if k not in names]


def _apply_options(task: Any, options: StepOptions, accelerator: str) -> None:
    """``@step`` retries and resources as the task's retry policy, requests/limits and accelerator."""
    if options.retries:
        # KFP owns the retries (exec-step runs one attempt), with the step's own backoff; KFP
        # takes whole seconds only, so the first delay is rounded up
        task.set_retry(
            num_retries=options.retries,
            backoff_duration=f"{math.ceil(options.retry_delay)}s",
            backoff_factor=options.backoff,
        )
    resources = options.resources
    if "num_cpus" in resources:
        cpus = f"{resources['num_cpus']:g}"
        task.set_cpu_request(cpus).set_cpu_limit(cpus)
    if "memory" in resources:
        memory = str(int(resources["memory"]))  # bytes, as Ray takes them
        task.set_memory_request(memory).set_memory_limit(memory)
    if resources.get("num_gpus"):
        task.set_accelerator_type(accelerator).set_accelerator_limit(math.ceil(resources["num_gpus"]))


def _component_yaml(graph_node: Node, kinds: Mapping[str, str], ref: str, image: str) -> str:
    inputs = []
    node, step = graph_node.name, graph_node.step
    command: list[Any] = ["loopwright", "pipeline", "exec-step", ref, node, "--kfp-run", KFP_RUN_PLACEHOLDER]
    for arg, value in graph_node.arguments.items():
        key = _input_name(arg)
        if isinstance(value, Param):
            kind = kinds[value.name]
            command += ["--param", arg, {"inputValue": key}]
        elif isinstance(value, Output):
            kind = "String"
            command += ["--ref", arg, str(-1 if value.index is None else value.index), {"inputValue": key}]
        elif is_jsonable(value):
            kind = "String"
            command += ["--json", arg, {"inputValue": key}]
        else:
            raise InvalidInput(
                f"cannot export step {node!r}: argument {arg!r} is a {type(value).__name__} constant; "
                "pass data through a step or a pipeline parameter"
            )
        inputs.append({"name": key, "type": kind})
    command += ["--outputs-path", {"outputPath": "outputs"}]
    spec = {
        "name": _kfp_name(node),
        "description": (step.fn.__doc__ or f"Loopwright step {step.name}").strip().splitlines()[0],
        "inputs": inputs,
        "outputs": [{"name": "outputs", "type": "String"}],
        "implementation": {"container": {"image": image, "command": command}},
    }
    return yaml.safe_dump(spec, sort_keys=False)


def _annotation(annotation: Any, fn: Any) -> Any:
    if isinstance(annotation, str):
        try:
            annotation = eval(
                annotation, getattr(fn, "__globals__", {})
            )  # the function's own annotation, as typing.get_type_hints does
        except Exception:
            return str
    return annotation if annotation in _KFP_TYPES else str


def _input_name(arg: str) -> str:
    return "in_" + re.sub(r"[^a-z0-9_]", "_", arg.lower())


def _kfp_name(name: str) -> str:
    return re.sub(r"[^a-z0-9-]", "-", name.lower()).strip("-") or "step"


__all__ = [
    "DEFAULT_IMAGE",
    "DEFAULT_SECRET",
    "KFP_RUN_PLACEHOLDER",
    "KFP_RUN_TAG",
    "Param",
    "compile_pipeline",
    "is_credential",
    "placeholder_graph",
    "run_kfp_step",
    "split_env",
]
