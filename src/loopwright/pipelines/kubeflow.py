"""Export a pipeline to a Kubeflow Pipelines v2 spec with the ``kfp`` SDK's compiler (offline).

Each DAG node becomes one container component running ``loopwright pipeline exec-step REF NODE``
in the given image. Pipeline parameters become KFP pipeline inputs (typed from the pipeline
function's annotations); a step's output travels as a KFP output parameter holding the blob
digests, so every pod reads its inputs from the shared artifact store by digest — set
``LOOPWRIGHT_STORE_URI`` / ``LOOPWRIGHT_ARTIFACT_URI`` (PostgreSQL, S3) with ``env=``.

The DAG is built with placeholder parameters, so the pipeline body must pass its parameters
straight to steps (no arithmetic or branching on them) for the export to be faithful.
"""

from __future__ import annotations

import inspect
import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from loopwright.errors import InvalidInput
from loopwright.pipelines.graph import Graph, Node, Output, building
from loopwright.pipelines.materializers import is_jsonable
from loopwright.pipelines.pipeline import Pipeline

DEFAULT_IMAGE = "ghcr.io/loopwright/loopwright:latest"
_KFP_TYPES = {float: "Float", int: "Integer", bool: "Boolean", str: "String"}


class Param:
    """Stands for a pipeline parameter while the DAG is built for export."""

    def __init__(self, name: str):
        self.name = name

    def __repr__(self) -> str:
        return f"<pipeline parameter {self.name}>"


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
        Environment for every pod, e.g. the store and artifact URIs.

    Returns
    -------
    pathlib.Path

    Examples
    --------
    ``lw.compile_pipeline(churn, "churn.yaml")`` ≡ ``loopwright pipeline compile module:churn --target kfp -o churn.yaml``
    """
    if target != "kfp":
        raise InvalidInput(f"unknown compile target {target!r}: only 'kfp' is supported")
    try:
        from kfp import compiler, components, dsl
    except ImportError:
        raise InvalidInput(
            'compiling for Kubeflow needs the kfp SDK: pip install "loopwright[kfp]"'
        ) from None
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
            for key, val in (env or {}).items():
                task.set_env_variable(key, val)
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


def _component_yaml(graph_node: Node, kinds: Mapping[str, str], ref: str, image: str) -> str:
    inputs = []
    node, step = graph_node.name, graph_node.step
    command: list[Any] = ["loopwright", "pipeline", "exec-step", ref, node]
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


__all__ = ["DEFAULT_IMAGE", "Param", "compile_pipeline", "placeholder_graph"]
