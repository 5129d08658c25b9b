"""``loopwright import …`` — bring history from other tools into Loopwright (mirrors ``lw.import_mlflow``)."""

from __future__ import annotations

import typer

app = typer.Typer(help="Import experiments, runs and models from another tool (MLflow).", no_args_is_help=True)
