"""``loopwright import …`` — bring history from other tools into Loopwright (mirrors ``lw.import_mlflow``).

Writes to ``--store-uri`` / ``--artifact-uri`` (else ``LOOPWRIGHT_STORE_URI`` / ``LOOPWRIGHT_ARTIFACT_URI``).
A progress bar runs over the runs (on a terminal); a summary table ends the command: per kind what was
imported and what was skipped, then each skip with its reason.
"""

from __future__ import annotations

import typer

from loopwright.cli.render import console, table

app = typer.Typer(
    help="Import experiments, runs and models from another tool (MLflow).", no_args_is_help=True
)


@app.command()
def mlflow(
    tracking_uri: str = typer.Option(
        ..., "--tracking-uri", help="MLflow's store: sqlite:///mlflow.db, http://host:5000, ./mlruns."
    ),
    registry_uri: str = typer.Option(None, "--registry-uri", help="Defaults to the tracking URI."),
    experiments: list[str] = typer.Option(
        None,
        "--experiments",
        "-e",
        help="Experiment names to import (repeat or comma-separate); default all.",
    ),
    allow_pickle: bool = typer.Option(
        False,
        "--allow-pickle",
        help="Also convert models whose loading unpickles (pickled sklearn, python_function); tagged so.",
    ),
    store_uri: str = typer.Option(None, "--store-uri", help="Defaults to LOOPWRIGHT_STORE_URI."),
    artifact_uri: str = typer.Option(None, "--artifact-uri", help="Defaults to LOOPWRIGHT_ARTIFACT_URI."),
) -> None:
    """Copy MLflow experiments, runs, artifacts, models and the registry here (re-runs add only what is new)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    from loopwright.compat.mlflow.importer import import_mlflow
    from loopwright.tracking.client import Client

    names = [n.strip() for item in experiments or [] for n in item.split(",") if n.strip()] or None
    client = Client(store_uri, artifact_uri)
    try:
        with Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=True,
            disable=not console.is_terminal,  # no bar in pipes and logs
        ) as bar:
            task = bar.add_task("importing runs", total=None)
            report = import_mlflow(
                tracking_uri,
                names,
                allow_pickle,
                registry_uri=registry_uri,
                client=client,
                progress=lambda done, total, name: bar.update(
                    task, completed=done, total=total, description=f"run {name}"
                ),
            )
    finally:
        client.close()
    counts = report.counts()
    console.print(
        table("MLflow import", ["kind", "imported", "skipped"], [(k, *v) for k, v in counts.items()])
    )
    skipped = [i for i in report.items if not i.imported]
    if skipped:
        console.print(
            table("skipped", ["kind", "name", "reason"], [(i.kind, i.name, i.reason) for i in skipped])
        )
