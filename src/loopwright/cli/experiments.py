"""``loopwright experiments …`` — mirrors ``lw.list_experiments`` / ``lw.delete_experiment``."""

from __future__ import annotations

import typer

from loopwright.cli.render import FullIdsOption, Output, OutputOption, console, render
from loopwright.tracking import fluent

app = typer.Typer(help="List, create, delete and restore experiments.", no_args_is_help=True)


@app.command("list")
def list_(
    all: bool = typer.Option(False, "--all", help="Include deleted experiments."),
    output: Output = OutputOption,
    full_ids: bool = FullIdsOption,
) -> None:
    """List experiments."""
    experiments = fluent.list_experiments(include_deleted=all)
    render(
        output,
        experiments,
        "experiments",
        ["id", "name", "lifecycle", "created"],
        [(e.id, e.name, e.lifecycle, e.created_at) for e in experiments],
        ids={"id"},
        full_ids=full_ids,
    )


@app.command()
def create(name: str) -> None:
    """Create an experiment."""
    experiment = fluent.create_experiment(name)
    console.print(f"created experiment [bold]{experiment.name}[/] ({experiment.id})")


@app.command()
def delete(name: str) -> None:
    """Soft-delete an experiment (``loopwright gc`` purges it)."""
    fluent.delete_experiment(name)
    console.print(f"deleted experiment [bold]{name}[/] (restorable until `loopwright gc`)")


@app.command()
def restore(name: str) -> None:
    """Restore a deleted experiment."""
    fluent.restore_experiment(name)
    console.print(f"restored experiment [bold]{name}[/]")
