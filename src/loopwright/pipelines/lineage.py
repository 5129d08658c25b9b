"""Walk back from a step output to everything that made it.

From an output blob digest (or the tracking run of a step) the walk follows ``step_io`` records:
the step run that wrote the output, its inputs (upstream outputs, local files, dataset
fingerprints), the step runs that wrote those, and so on up to the pipeline runs and their input
data. A cached step run points to the step run it reused.

Node ids: ``artifact:<digest>``, ``dataset:<fingerprint>``, ``file:<digest>``,
``step_run:<id>``, ``pipeline_run:<id>``.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

from loopwright.errors import InvalidInput, NotFound
from loopwright.store.entities import StepRun
from loopwright.tracking.client import get_client

_RUN_ID = re.compile(r"[0-9a-f]{32}")
_DIGEST = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class LineageNode:
    kind: str  # artifact | dataset | file | step_run | pipeline_run
    id: str
    detail: str = ""


@dataclass(frozen=True)
class LineageEdge:
    source: str
    target: str
    relation: str  # input_of | produced | fingerprint_of | contains | reused


@dataclass
class Lineage:
    """Nodes and edges upstream of a target, edges pointing downstream (data → consumer)."""

    nodes: list[LineageNode] = field(default_factory=list)
    edges: list[LineageEdge] = field(default_factory=list)

    def ids(self, kind: str | None = None) -> list[str]:
        return [n.id for n in self.nodes if kind is None or n.kind == kind]

    def to_dict(self) -> dict[str, Any]:
        """``{"nodes": [...], "edges": [...]}`` as plain JSON-able data (``pipeline lineage --output json``).

        >>> Lineage([LineageNode("file", "data.csv")]).to_dict()
        {'nodes': [{'kind': 'file', 'id': 'data.csv', 'detail': ''}], 'edges': []}
        """
        return {"nodes": [asdict(n) for n in self.nodes], "edges": [asdict(e) for e in self.edges]}


class _Walk:
    def __init__(self) -> None:
        self.store = get_client().store
        self.out = Lineage()
        self._nodes: set[str] = set()
        self._edges: set[LineageEdge] = set()
        self._steps: set[str] = set()

    def node(self, kind: str, id_: str, detail: str = "") -> str:
        key = f"{kind}:{id_}"
        if key not in self._nodes:
            self._nodes.add(key)
            self.out.nodes.append(LineageNode(kind, key, detail))
        return key

    def edge(self, source: str, target: str, relation: str) -> None:
        edge = LineageEdge(source, target, relation)
        if edge not in self._edges:
            self._edges.add(edge)
            self.out.edges.append(edge)

    def artifact(self, digest: str) -> None:
        self.node("artifact", digest)
        producers = self.store.find_step_runs_by_output(digest)
        # prefer the step run that computed it; cached reuses point to it anyway
        for step_run in sorted(producers, key=lambda s: s.cache_hit)[:1]:
            self.step(step_run)

    def step(self, step_run: StepRun) -> None:
        key = self.node("step_run", step_run.id, f"{step_run.node} ({step_run.status})")
        if step_run.id in self._steps:
            return
        self._steps.add(step_run.id)
        pipeline_key = self.node("pipeline_run", step_run.pipeline_run_id)
        self.edge(pipeline_key, key, "contains")
        for out in step_run.outputs:
            self.edge(key, self.node("artifact", out.digest, f"{out.materializer} {out.path}"), "produced")
            if out.dataset_digest:
                dataset = self.node("dataset", out.dataset_digest, f"{out.n_rows} rows")
                self.edge(dataset, f"artifact:{out.digest}", "fingerprint_of")
        for item in step_run.inputs:
            if item.kind == "file":
                self.edge(self.node("file", item.digest, item.path or ""), key, "input_of")
            elif item.kind == "artifact":
                self.edge(self.node("artifact", item.digest, item.materializer or ""), key, "input_of")
                if item.dataset_digest:
                    self.edge(
                        self.node("dataset", item.dataset_digest), f"artifact:{item.digest}", "fingerprint_of"
                    )
                self.artifact(item.digest)
        if step_run.cached_from:
            try:
                source = self.store.get_step_run(step_run.cached_from)
            except NotFound:
                return
            self.edge(self.node("step_run", source.id, f"{source.node} ({source.status})"), key, "reused")
            self.step(source)


def get_pipeline_lineage(target: str) -> Lineage:
    """Everything upstream of ``target``: an output blob digest, or the tracking run id of a step.

    Examples
    --------
    ``lw.get_pipeline_lineage(result.digests("train")[0]).ids("file")`` → the data files read.

    >>> import loopwright as lw, os, tempfile
    >>> os.environ["LOOPWRIGHT_HOME"] = tempfile.mkdtemp()
    >>> @lw.step
    ... def inc(x: int) -> int:
    ...     return x + 1
    >>> @lw.pipeline
    ... def count(x: int = 0):
    ...     return inc(inc(x))
    >>> result = count.run(x=1)
    >>> lineage = lw.get_pipeline_lineage(result.digests("inc_2")[0])
    >>> len(lineage.ids("step_run")), len(lineage.ids("pipeline_run"))
    (2, 1)
    >>> del os.environ["LOOPWRIGHT_HOME"]; lw.reset_clients()
    """
    if not isinstance(target, str):
        raise InvalidInput(f"lineage target must be a digest or run id, got {type(target).__name__}")
    walk = _Walk()
    if _DIGEST.fullmatch(target):
        walk.artifact(target)
    elif _RUN_ID.fullmatch(target):
        tags = get_client().get_run(target).system_tags
        step_run_id = tags.get("loopwright.step_run")
        if step_run_id is None:
            raise InvalidInput(f"run {target!r} is not a pipeline step's run")
        walk.step(walk.store.get_step_run(step_run_id))
    else:
        raise InvalidInput(f"lineage target {target!r} is neither a SHA-256 digest nor a run id")
    return walk.out


__all__ = ["Lineage", "LineageEdge", "LineageNode", "get_pipeline_lineage"]
