"""``loopwright runs …`` — mirrors ``lw.search_runs`` / ``lw.get_run`` / ``lw.delete_run`` /
``lw.mark_failed_runs``."""

from __future__ import annotations

import typer

from loopwright.cli.render import (
    FullIdsOption,
    Output,
    OutputOption,
    console,
    key_values,
    render,
    render_one,
    table,
)
from loopwright.store import Run
from loopwright.tracking import fluent

app = typer.Typer(
    help="Search, show, delete and restore runs; end runs whose process died.", no_args_is_help=True
)


@app.command("list")
def list_(
    experiment: str = typer.Option(None, "--experiment", "-e", help="Experiment name."),
    filter: str = typer.Option(None, "--filter", "-f", help="e.g. \"metrics.auc > 0.9 and params.C = '1'\""),
    order_by: list[str] = typer.Option(
        None, "--order-by", "-o", help="e.g. 'metrics.auc DESC' (repeatable)."
    ),
    max_results: int = typer.Option(50, "--max-results", "-n"),
    output: Output = OutputOption,
    full_ids: bool = FullIdsOption,
) -> None:
    """List runs, newest first, with their metrics (the first ones that fit; csv and json have all)."""
    runs = fluent.search_runs(experiment, filter, order_by or None, max_results, output="list")
    metric_keys = sorted({k for r in runs for k in r.metrics})
    render(
        output,
        runs,
        f"runs{' in ' + experiment if experiment else ''}",
        ["run_id", "name", "status", "started", "duration s", *metric_keys],
        [
            (r.id, r.name, r.status, r.start_time, r.duration, *(r.metrics.get(k) for k in metric_keys))
            for r in runs
        ],
        ids={"run_id"},
        full_ids=full_ids,
    )


@app.command()
def show(run_id: str, output: Output = OutputOption) -> None:
    """Show one run: attributes, params, metrics, tags, datasets and artifacts."""
    run: Run = fluent.get_run(run_id)
    if render_one(output, run):
        return
    console.print(
        key_values(
            f"run {run.id}",
            {
                "name": run.name,
                "experiment_id": run.experiment_id,
                "status": run.status,
                "start_time": run.start_time,
                "end_time": run.end_time,
                "parent_id": run.parent_id,
                "error": run.error,
                "lifecycle": run.lifecycle,
            },
        )
    )
    if run.params:
        console.print(key_values("params", run.params))
    if run.metrics:
        console.print(key_values("metrics (latest)", run.metrics))
    if run.tags:
        console.print(key_values("tags", run.tags))
    if run.system_tags:
        console.print(key_values("system tags", run.system_tags))
    client = fluent.get_client()
    datasets = client.get_dataset_inputs(run.id)
    if datasets:
        console.print(
            table(
                "datasets",
                ["name", "context", "rows", "digest"],
                [(d.name, d.context, d.n_rows, d.digest[:16]) for d in datasets],
            )
        )
    artifacts = client.list_artifacts(run.id)
    if artifacts:
        console.print(
            table(
                "artifacts", ["path", "size", "digest"], [(a.path, a.size, a.digest[:16]) for a in artifacts]
            )
        )


@app.command()
def delete(run_id: str) -> None:
    """Soft-delete a run."""
    fluent.delete_run(run_id)
    console.print(f"deleted run {run_id} (restorable until `loopwright gc`)")


@app.command()
def restore(run_id: str) -> None:
    """Restore a deleted run."""
    fluent.restore_run(run_id)
    console.print(f"restored run {run_id}")


@app.command("mark-failed")
def mark_failed(
    stale: str = typer.Option(
        None, "--stale", help="Also end runs without activity for this long (30m, 1h, 2d)."
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="List the runs, end nothing."),
    full_ids: bool = FullIdsOption,
) -> None:
    """End running runs whose process is gone (judged on its own host) or, with --stale, that went quiet."""
    found = fluent.mark_failed_runs(stale, dry_run=dry_run)
    title = "runs to mark failed (dry run: nothing ended)" if dry_run else "runs marked failed"
    if not found:
        console.print("no abandoned runs" + (" (dry run)" if dry_run else ""))
        return
    console.print(
        table(
            title,
            ["run_id", "name", "started", "last activity", "reason"],
            [(a.run.id, a.run.name, a.run.start_time, a.run.last_activity, a.reason) for a in found],
            ids={"run_id"},
            full_ids=full_ids,
        )
    )
