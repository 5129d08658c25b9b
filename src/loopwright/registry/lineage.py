"""Where a model version came from: its run, the run's datasets, params, metrics and code version,
and — for a model a pipeline step produced — the pipeline runs and the input files behind it.

:func:`lineage_of` reads the store; :class:`Lineage` is the plain answer, printable as a
small tree and convertible to JSON-ready dicts with :meth:`Lineage.to_dict`.
"""

from __future__ import annotations

from collections import deque
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from loopwright.errors import NotFound
from loopwright.store import Store
from loopwright.store.entities import DatasetInput, LineageEdge, ModelVersion, PipelineRun, Run, StepIO
from loopwright.tracking.source import SOURCE_GIT_COMMIT, SOURCE_NAME

MAX_EDGES = 1000  # a walk of the upstream graph stops here; lineage graphs are small


@dataclass(frozen=True, repr=False)
class Lineage:
    """A model version traced back: version → run → datasets, params, metrics, code version.

    ``run`` is ``None`` when the version was not registered from a run, or when that run has
    been purged (the version and its files outlive it). ``edges`` holds every lineage edge
    upstream of the version (run → version, and whatever pipelines recorded further up).
    ``pipeline_runs`` are the pipeline runs on those edges, the one whose step produced the
    model first; ``input_files`` the local files their steps read (path and SHA-256);
    ``input_datasets`` the fingerprints of frames passed to those pipelines as parameters.

    Examples
    --------
    >>> import loopwright as lw, numpy as np, os, tempfile, pandas as pd
    >>> from sklearn.linear_model import LinearRegression
    >>> os.environ["LOOPWRIGHT_HOME"] = tempfile.mkdtemp()
    >>> X = pd.DataFrame({"a": [0.0, 1.0, 2.0], "b": [1.0, 0.0, 1.0]})
    >>> with lw.start_run() as run:
    ...     lw.log_param("fit_intercept", True)
    ...     _ = lw.log_dataset(X, name="train")
    ...     _ = lw.log_model(LinearRegression().fit(X, X.sum(axis=1)), "model", input_example=X[:2])
    >>> mv = lw.register_model(f"runs:/{run.id}/model", "sums")
    >>> lineage = lw.get_lineage(mv.uri)
    >>> lineage.run_id == run.id, lineage.params, [d.name for d in lineage.datasets]
    (True, {'fit_intercept': 'True'}, ['train'])
    >>> del os.environ["LOOPWRIGHT_HOME"]; lw.reset_clients()
    """

    model_version: ModelVersion
    run_id: str | None
    run: Run | None
    datasets: list[DatasetInput] = field(default_factory=list)
    params: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    code_version: dict[str, str] = field(default_factory=dict)
    edges: list[LineageEdge] = field(default_factory=list)
    pipeline_runs: list[PipelineRun] = field(default_factory=list)
    input_files: list[StepIO] = field(default_factory=list)
    input_datasets: list[DatasetInput] = field(default_factory=list)

    @property
    def pipeline_run(self) -> PipelineRun | None:
        """The pipeline run whose step produced the model (``None`` if no pipeline did)."""
        return self.pipeline_runs[0] if self.pipeline_runs else None

    @property
    def git_commit(self) -> str | None:
        return self.code_version.get("git_commit")

    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON-ready data (times as ISO strings)."""
        run = None
        if self.run is not None:
            run = {
                "id": self.run.id,
                "name": self.run.name,
                "experiment_id": self.run.experiment_id,
                "status": self.run.status,
                "start_time": _iso(self.run.start_time),
                "end_time": _iso(self.run.end_time),
            }
        return {
            "model_version": _jsonable(asdict(self.model_version)) | {"uri": self.model_version.uri},
            "run_id": self.run_id,
            "run": run,
            "datasets": [asdict(d) for d in self.datasets],
            "params": dict(self.params),
            "metrics": dict(self.metrics),
            "code_version": dict(self.code_version),
            "edges": [_jsonable(asdict(e)) for e in self.edges],
            "pipeline_runs": [
                {
                    "id": p.id,
                    "pipeline": p.pipeline,
                    "status": p.status,
                    "ref": p.ref,
                    "params": dict(p.params),
                    "start_time": _iso(p.start_time),
                }
                for p in self.pipeline_runs
            ],
            "input_files": [{"path": f.path, "digest": f.digest, "size": f.size} for f in self.input_files],
            "input_datasets": [asdict(d) for d in self.input_datasets],
        }

    def __repr__(self) -> str:
        mv = self.model_version
        aliases = f" @{', @'.join(mv.aliases)}" if mv.aliases else ""
        lines = [f"Lineage {mv.uri}{aliases} ({mv.status})"]
        if self.run_id is None:
            lines.append("└── no run recorded")
        elif self.run is None:
            lines.append(f"└── run {self.run_id} (purged)")
        else:
            lines.append(f"└── run {self.run.id} {self.run.name!r} ({self.run.status})")
            code = self.code_version.get("source_name", "?")
            commit = self.code_version.get("git_commit")
            lines.append(f"    ├── code: {code}" + (f" @ git {commit[:12]}" if commit else ""))
            lines.append(f"    ├── params: {_pairs(self.params)}")
            lines.append(f"    ├── metrics: {_pairs(self.metrics)}")
            datasets = ", ".join(
                f"{d.name} ({d.context}, {d.n_rows} rows, {d.digest[:12]})" for d in self.datasets
            )
            lines.append(f"    └── datasets: {datasets or '-'}")
        for pipeline in self.pipeline_runs:
            lines.append(
                f"└── pipeline {pipeline.pipeline!r} run {pipeline.id} ({pipeline.status}), "
                f"params: {_pairs(pipeline.params)}"
            )
        for file in self.input_files:
            lines.append(f"└── input file {file.path} (sha256 {file.digest[:12]})")
        for data in self.input_datasets:
            lines.append(f"└── input dataset {data.name} ({data.n_rows} rows, {data.digest[:12]})")
        further = [e for e in self.edges if not (e.dst_type == "model_version" and e.src_type == "run")]
        for edge in further:
            lines.append(
                f"    {edge.src_type}:{edge.src_id} -[{edge.relation}]-> {edge.dst_type}:{edge.dst_id}"
            )
        return "\n".join(lines)


def lineage_of(store: Store, version: ModelVersion) -> Lineage:
    """Trace ``version`` through the store: its run (if still there) and the upstream edges."""
    edges = upstream_edges(store, "model_version", version.owner_id)
    run: Run | None = None
    datasets: list[DatasetInput] = []
    if version.run_id is not None:
        try:
            run = store.get_run(version.run_id)
            datasets = store.get_dataset_inputs(version.run_id)
        except NotFound:
            run = None
    code: dict[str, str] = {}
    if run is not None:
        code = _code_version(run)
        if not code:  # a cached pipeline step's run: the code is that of the run it reused
            for edge in edges:
                if edge.relation == "reused_by" and edge.dst_type == "run" and edge.dst_id == run.id:
                    try:
                        code = _code_version(store.get_run(edge.src_id))
                    except NotFound:
                        continue
                    break
    return Lineage(
        model_version=version,
        run_id=version.run_id,
        run=run,
        datasets=datasets,
        params=dict(run.params) if run else {},
        metrics=dict(run.metrics) if run else {},
        code_version=code,
        edges=edges,
        **_pipelines(store, edges),
    )


def _code_version(run: Run) -> dict[str, str]:
    code: dict[str, str] = {}
    if SOURCE_NAME in run.system_tags:
        code["source_name"] = run.system_tags[SOURCE_NAME]
    if SOURCE_GIT_COMMIT in run.system_tags:
        code["git_commit"] = run.system_tags[SOURCE_GIT_COMMIT]
    return code


def _pipelines(store: Store, edges: list[LineageEdge]) -> dict[str, Any]:
    """The pipeline runs on ``edges`` (nearest first), the local files their steps read and the
    frames passed to them as parameters."""
    runs: list[PipelineRun] = []
    for run_id in dict.fromkeys(e.src_id for e in edges if e.src_type == "pipeline_run"):
        try:
            runs.append(store.get_pipeline_run(run_id))
        except NotFound:
            continue
    wanted = {e.src_id for e in edges if e.src_type == "file"}
    files: dict[str, StepIO] = {}
    for pipeline in runs:
        for step_run in pipeline.steps:
            for item in step_run.inputs:
                if item.kind == "file" and item.digest in wanted:
                    files.setdefault(item.digest, item)
    datasets: dict[str, DatasetInput] = {}
    for pipeline in runs:
        for data in store.get_dataset_inputs(pipeline.id):
            datasets.setdefault(data.digest, data)
    return {
        "pipeline_runs": runs,
        "input_files": list(files.values()),
        "input_datasets": list(datasets.values()),
    }


def upstream_edges(store: Store, node_type: str, node_id: str) -> list[LineageEdge]:
    """Every edge on a path into ``(node_type, node_id)``, breadth first, cycles ignored."""
    seen_nodes = {(node_type, node_id)}
    seen_edges: set[tuple[str, str, str, str, str]] = set()
    out: list[LineageEdge] = []
    queue = deque([(node_type, node_id)])
    while queue and len(out) < MAX_EDGES:
        current = queue.popleft()
        for edge in store.get_lineage_edges(*current, direction="upstream"):
            key = (edge.src_type, edge.src_id, edge.dst_type, edge.dst_id, edge.relation)
            if key in seen_edges:
                continue
            seen_edges.add(key)
            out.append(edge)
            source = (edge.src_type, edge.src_id)
            if source not in seen_nodes:
                seen_nodes.add(source)
                queue.append(source)
    return out[:MAX_EDGES]


def _pairs(values: dict[str, Any]) -> str:
    if not values:
        return "-"
    return ", ".join(
        f"{k}={v:.6g}" if isinstance(v, float) else f"{k}={v}" for k, v in sorted(values.items())
    )


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _jsonable(data: dict[str, Any]) -> dict[str, Any]:
    return {k: _iso(v) if isinstance(v, datetime) else v for k, v in data.items()}
