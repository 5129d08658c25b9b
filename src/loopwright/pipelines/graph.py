"""The DAG a ``@pipeline`` body builds: nodes (one per step call) and the outputs flowing between them.

While a pipeline body runs under :func:`building`, calling a step records a :class:`Node` and
returns an :class:`Output` placeholder instead of a value; passing that placeholder to another
step is the edge. Each call is its own node — ``inc``, ``inc_2``, ``inc_3`` — so loops work.

Examples
--------
>>> from loopwright.pipelines.steps import step
>>> @step
... def inc(x: int) -> int:
...     return x + 1
>>> with building() as graph:
...     y = inc(inc(1))
>>> [(n.name, n.upstream) for n in graph.nodes.values()]
[('inc', []), ('inc_2', ['inc'])]
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from loopwright.errors import InvalidInput

if TYPE_CHECKING:
    from loopwright.pipelines.steps import Step

_current: ContextVar[Graph | None] = ContextVar("loopwright_pipeline_graph", default=None)


class Output:
    """The future output of a node; pass it to other steps. ``index`` picks one of a tuple's parts."""

    __slots__ = ("_graph", "index", "n_outputs", "node")

    def __init__(self, graph: Graph, node: str, n_outputs: int, index: int | None = None):
        self._graph = graph
        self.node = node
        self.n_outputs = n_outputs
        self.index = index

    def __repr__(self) -> str:
        part = "" if self.index is None else f"[{self.index}]"
        return f"<output of step {self.node!r}{part}>"

    def __iter__(self) -> Iterator[Output]:
        if self.index is not None or self.n_outputs == 1:
            raise InvalidInput(
                f"{self!r} is one value; annotate the step's return as tuple[A, B, ...] to unpack it"
            )
        return iter([Output(self._graph, self.node, self.n_outputs, i) for i in range(self.n_outputs)])

    def __getitem__(self, index: int) -> Output:
        if self.index is not None or self.n_outputs == 1 or not 0 <= index < self.n_outputs:
            raise InvalidInput(f"{self!r} has no part {index!r}")
        return Output(self._graph, self.node, self.n_outputs, index)

    def __bool__(self) -> bool:
        raise InvalidInput(
            f"{self!r} has no value while the pipeline is being built: pass it to another step "
            "instead of testing or computing with it in the pipeline body"
        )

    def __len__(self) -> int:
        return self.n_outputs


@dataclass
class Node:
    """One step call: its bound arguments (which may hold :class:`Output` s) and upstream nodes."""

    name: str
    step: Step
    arguments: dict[str, Any]
    upstream: list[str] = field(default_factory=list)


@dataclass
class Graph:
    """Nodes in call order, which is a topological order (a call only sees outputs made before it)."""

    nodes: dict[str, Node] = field(default_factory=dict)
    result: Any = None

    def add(self, step: Step, arguments: dict[str, Any]) -> Output:
        name = step.name
        count = 1
        while name in self.nodes:
            count += 1
            name = f"{step.name}_{count}"
        upstream: list[str] = []
        for output in iter_outputs(arguments):
            if output._graph is not self:
                raise InvalidInput(f"{output!r} belongs to another pipeline build; steps cannot share it")
            if output.node not in upstream:
                upstream.append(output.node)
        self.nodes[name] = Node(name, step, arguments, upstream)
        return Output(self, name, step.n_outputs)

    def downstream(self, name: str) -> list[str]:
        """Every node that depends on ``name``, directly or not, in topological order."""
        hit = {name}
        out = []
        for node in self.nodes.values():
            if any(u in hit for u in node.upstream):
                hit.add(node.name)
                out.append(node.name)
        return out


def iter_outputs(value: Any) -> Iterator[Output]:
    """Every :class:`Output` inside ``value`` (through lists, tuples and dicts)."""
    if isinstance(value, Output):
        yield value
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from iter_outputs(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from iter_outputs(item)


def current_graph() -> Graph | None:
    """The graph being built in this context, or ``None`` (steps then run as plain functions)."""
    return _current.get()


@contextmanager
def building() -> Iterator[Graph]:
    """Collect step calls into a new :class:`Graph` for the duration of the block."""
    graph = Graph()
    token = _current.set(graph)
    try:
        yield graph
    finally:
        _current.reset(token)


__all__ = ["Graph", "Node", "Output", "building", "current_graph", "iter_outputs"]
