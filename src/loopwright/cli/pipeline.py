"""``loopwright pipeline …`` — mirrors ``churn.run()``, ``lw.list_pipeline_runs``, ``lw.get_pipeline_run``
and ``lw.compile_pipeline``.

``REF`` is ``module:name`` (imported with the current folder on the path) or ``path/to/file.py:name``.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from loopwright.cli.render import (
    FullIdsOption,
    Output,
    OutputOption,
    console,
    fmt,
    key_values,
    render,
    render_one,
    table,
)
from loopwright.errors import InvalidInput, NotFound
from loopwright.pipelines import Pipeline, PipelineResult, StepEvent, get_pipeline_run, list_pipeline_runs
from loopwright.pipelines.kubeflow import (
    DEFAULT_SECRET,
    compile_pipeline,
    placeholder_graph,
    run_kfp_step,
    split_env,
)
from loopwright.pipelines.lineage import get_pipeline_lineage
from loopwright.pipelines.params import from_text, parameter_hints
from loopwright.pipelines.pipeline import load_pipeline
from loopwright.pipelines.tasks import Spec
from loopwright.store.entities import PipelineRun, StepRun

app = typer.Typer(help="Run, inspect and export pipelines.", no_args_is_help=True)

STATUS_STYLE = {
    "pending": "dim",
    "running": "yellow",
    "cached": "cyan",
    "done": "green",
    "failed": "red",
    "skipped": "magenta",
    "finished": "green",
}


def parse_params(pipeline: Pipeline, items: list[str]) -> dict[str, Any]:
    """``["C=0.5", "path=data.csv"]`` → values typed by the pipeline's hints (unhinted: JSON, else str)."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise InvalidInput(f"--param needs KEY=VALUE, got {item!r}")
        if key not in pipeline.parameters:
            raise InvalidInput(
                f"pipeline {pipeline.name!r} has no parameter {key!r}; it has {pipeline.parameters}"
            )
        out[key] = from_text(raw, pipeline.hints.get(key, Any), key)
    return out


class _Board:
    """The live table of steps the ``run`` command shows."""

    def __init__(self, nodes: list[str]):
        self.status = dict.fromkeys(nodes, "pending")
        self.started: dict[str, float] = {}
        self.duration: dict[str, float] = {}
        self.errors: dict[str, str] = {}

    def update(self, event: StepEvent) -> None:
        self.status[event.node] = event.status
        if event.status == "running":
            self.started[event.node] = time.monotonic()
        if event.duration is not None:
            self.duration[event.node] = event.duration
        if event.error:
            self.errors[event.node] = event.error

    def __rich__(self) -> Table:
        out = Table(title="steps", title_justify="left", header_style="bold")
        for column in ("step", "status", "duration s", "error"):
            out.add_column(column, overflow="fold")
        for node, status in self.status.items():
            seconds = self.duration.get(node)
            if seconds is None and node in self.started:
                seconds = time.monotonic() - self.started[node]
            out.add_row(
                node,
                Text(status, style=STATUS_STYLE.get(status, "")),
                fmt(seconds),
                self.errors.get(node, ""),
            )
        return out


@app.command()
def run(
    ref: str = typer.Argument(..., help="module:pipeline or path/file.py:pipeline"),
    param: list[str] = typer.Option(None, "--param", "-p", help="KEY=VALUE (repeatable)."),
    executor: str = typer.Option("local", "--executor", help="local, ray, or ray://host:port"),
    address: str = typer.Option(
        None, "--address", help="Ray cluster address to join (default: LOOPWRIGHT_RAY_ADDRESS)."
    ),
    no_cache: bool = typer.Option(False, "--no-cache", help="Run every step even if cached."),
    resume: str = typer.Option(None, "--resume", help="Rerun a failed pipeline run from its failure."),
    experiment: str = typer.Option(None, "--experiment", "-e", help="Experiment of the run."),
) -> None:
    """Run a pipeline with a live view of its steps (pending/running/cached/done/failed)."""
    pipeline = load_pipeline(ref)
    params = parse_params(pipeline, param or [])
    board = _Board([])
    live = Live(board, console=Console(file=sys.stdout), refresh_per_second=8, transient=False)

    def show_progress(event: StepEvent) -> None:
        # the board appears with the run's first event, so an error found before the run
        # starts (a bad parameter, executor or resume id) is the command's only output
        board.update(event)
        if not live.is_started:
            live.start()

    try:
        result = pipeline.run(
            executor=executor,
            address=address,
            cache=not no_cache,
            resume=resume,
            experiment=experiment,
            progress=show_progress,
            **params,
        )
    finally:
        if live.is_started:
            live.stop()
            if not live.console.is_terminal:
                live.console.line()  # off a terminal, the final table ends without a newline
    _summary(result)


def _summary(result: PipelineResult) -> None:
    run = result.run
    cached = len(result.cache_hits)
    console.print(
        f"pipeline [bold]{run.pipeline}[/] run [bold]{run.id}[/] {run.status} in {fmt(run.duration)} s: "
        f"{len(result.executed)} executed, {cached} cached",
        soft_wrap=True,
    )


@app.command("runs")
def runs_(
    pipeline: str = typer.Option(None, "--pipeline", help="Only runs of this pipeline."),
    max_results: int = typer.Option(20, "--max-results", "-n"),
    output: Output = OutputOption,
    full_ids: bool = FullIdsOption,
) -> None:
    """List pipeline runs, newest first."""
    found = list_pipeline_runs(pipeline, max_results)
    render(
        output,
        found,
        "pipeline runs",
        [
            "run_id",
            "pipeline",
            "status",
            "executor",
            "started",
            "duration s",
            "steps",
            "cached",
            "failed",
        ],
        [
            (
                r.id,
                r.pipeline,
                r.status,
                r.executor,
                r.start_time,
                r.duration,
                len(r.steps),
                sum(s.cache_hit for s in r.steps),
                sum(s.status == "failed" for s in r.steps),
            )
            for r in found
        ],
        ids={"run_id"},
        full_ids=full_ids,
    )


@app.command()
def show(run_id: str, output: Output = OutputOption) -> None:
    """Show one pipeline run: parameters and the DAG as a tree with each step's status."""
    run = get_pipeline_run(run_id).run
    if render_one(output, run):
        return
    console.print(
        key_values(
            f"pipeline run {run.id}",
            {
                "pipeline": run.pipeline,
                "status": run.status,
                "executor": run.executor,
                "start_time": run.start_time,
                "duration s": run.duration,
                "cache": run.cache,
                "resumed_from": run.resumed_from,
                "error": run.error,
            },
        )
    )
    if run.params:
        console.print(key_values("params", run.params))
    console.print(dag_tree(run))
    for step_run in run.steps:
        if step_run.status == "failed" and step_run.logs_tail:
            console.print(
                Panel(step_run.logs_tail.rstrip(), title=f"{step_run.node}: logs (tail)", title_align="left")
            )


def dag_tree(run: PipelineRun) -> Tree:
    """The DAG as a tree: each step under its first upstream step, other upstreams noted."""
    root = Tree(Text.assemble((run.pipeline, "bold"), " ", (run.status, STATUS_STYLE.get(run.status, ""))))
    branches: dict[str, Tree] = {}
    for step_run in run.steps:
        parent = branches.get(step_run.upstream[0], root) if step_run.upstream else root
        branches[step_run.node] = parent.add(_step_label(step_run))
    return root


def _step_label(step_run: StepRun) -> Text:
    label = Text.assemble(
        (step_run.node, "bold"), " ", (step_run.status, STATUS_STYLE.get(step_run.status, ""))
    )
    if step_run.duration is not None:
        label.append(f" {step_run.duration:.3f}s")
    if step_run.attempts > 1:
        label.append(f" attempts={step_run.attempts}")
    if step_run.cache_hit:
        label.append(f" (from step run {step_run.cached_from})", style="dim")
    if len(step_run.upstream) > 1:
        label.append(f" also after {', '.join(step_run.upstream[1:])}", style="dim")
    if step_run.outputs:
        label.append(
            " → " + ", ".join(f"{o.digest[:12]} ({o.materializer})" for o in step_run.outputs), style="dim"
        )
    if step_run.error:
        label.append(f" {step_run.error}", style="red")
    return label


@app.command("compile")
def compile_(
    ref: str = typer.Argument(..., help="module:pipeline or path/file.py:pipeline"),
    target: str = typer.Option("kfp", "--target", help="Only kfp (Kubeflow Pipelines v2)."),
    output: Path = typer.Option(..., "--output", "-o", help="Where to write the spec."),
    image: str = typer.Option(None, "--image", help="Container image with Loopwright and your code."),
    env: list[str] = typer.Option(None, "--env", help="KEY=VALUE set in every pod (repeatable)."),
    secret: str = typer.Option(
        DEFAULT_SECRET, "--secret", help="Kubernetes Secret the pods read credentials from."
    ),
    secret_env: list[str] = typer.Option(
        None, "--secret-env", help="A variable read from the Secret (key = its name; repeatable)."
    ),
) -> None:
    """Export a pipeline to a Kubeflow Pipelines v2 YAML spec (offline, kfp SDK compiler).

    A ``--env`` value holding a credential (a URI with a password, ``AWS_SECRET_ACCESS_KEY``…) is
    not written into the spec: the pods read it from the Secret ``--secret``.
    """
    pipeline = load_pipeline(ref)
    environment = dict(item.split("=", 1) for item in env or [] if "=" in item)
    kwargs = {"image": image} if image else {}
    path = compile_pipeline(
        pipeline,
        output,
        target=target,
        ref=ref,
        env=environment,
        secret=secret,
        secret_env=secret_env or (),
        **kwargs,
    )
    count = len(placeholder_graph(pipeline).nodes)
    console.print(f"wrote {path} ({count} component{'' if count == 1 else 's'})")
    _, from_secret = split_env(environment, secret_env or ())
    if from_secret:
        literals = " ".join(f"--from-literal={name}=…" for name in from_secret)
        console.print(
            f"the pods read {', '.join(from_secret)} from the Secret {secret!r}: "
            f"kubectl create secret generic {secret} {literals}",
            soft_wrap=True,
        )


@app.command(
    "exec-step",
    hidden=True,
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
)
def exec_step(ctx: typer.Context, ref: str, node: str) -> None:
    """Run one node in a Kubeflow pod: ``--param K V``, ``--json K V``, ``--ref K INDEX OUTPUTS``,
    ``--kfp-run ID`` (the steps of one KFP run join one pipeline run), ``--outputs-path P``."""
    pipeline = load_pipeline(ref)
    graph = placeholder_graph(pipeline)
    if node not in graph.nodes:
        raise NotFound(f"pipeline {pipeline.name!r} has no step {node!r}")
    hints = parameter_hints(graph.nodes[node].step.fn)
    args = list(ctx.args)
    arguments: dict[str, Spec] = {}
    outputs_path = None
    kfp_run = None
    while args:
        flag = args.pop(0)
        if flag == "--param":
            key, raw = args.pop(0), args.pop(0)
            arguments[key] = {"$value": from_text(raw, hints.get(key, Any), key)}
        elif flag == "--json":
            key, raw = args.pop(0), args.pop(0)
            arguments[key] = {"$value": json.loads(raw)}
        elif flag == "--ref":
            key, index, raw = args.pop(0), int(args.pop(0)), args.pop(0)
            parts = [{"$blob": b} for b in json.loads(raw)]
            arguments[key] = (
                parts[index] if index >= 0 else (parts[0] if len(parts) == 1 else {"$tuple": parts})
            )
        elif flag == "--kfp-run":
            kfp_run = args.pop(0)
        elif flag == "--outputs-path":
            outputs_path = Path(args.pop(0))
        else:
            raise InvalidInput(f"exec-step: unexpected argument {flag!r}")
    outputs = run_kfp_step(pipeline, node, arguments, kfp_run)
    payload = json.dumps([{"digest": o.digest, "materializer": o.materializer} for o in outputs])
    if outputs_path is not None:
        outputs_path.parent.mkdir(parents=True, exist_ok=True)
        outputs_path.write_text(payload)
    console.print(payload)


@app.command()
def lineage(
    digest: str = typer.Argument(..., help="An output digest or a step's run id."),
    output: Output = OutputOption,
) -> None:
    """Walk back from an output digest (or a step's run id): step runs, inputs, files, pipeline runs."""
    graph = get_pipeline_lineage(digest)
    if render_one(output, graph):
        return
    console.print(
        table(
            f"lineage of {digest[:16]}",
            ["kind", "id", "detail"],
            [(n.kind, n.id, n.detail) for n in graph.nodes],
        )
    )
    console.print(
        table("edges", ["from", "to", "relation"], [(e.source, e.target, e.relation) for e in graph.edges])
    )
