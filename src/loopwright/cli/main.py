"""The ``loopwright`` command: one typer app, one sub-app per command group.

Errors print one line and exit non-zero; set ``LOOPWRIGHT_DEBUG=1`` for a traceback.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
import warnings
from typing import Any

import typer
from rich.markup import escape
from typer.core import TyperCommand, TyperGroup

from loopwright import __version__
from loopwright.cli.render import console, err_console, error_line
from loopwright.config import get_settings
from loopwright.errors import LoopwrightError, LoopwrightWarning

try:  # typer >= 0.22 vendors its own click (and no longer depends on the click package)
    from typer._click import Command, Context
    from typer._click.exceptions import ClickException
except ImportError:  # older typer runs on click itself
    from click import Command, Context  # type: ignore[assignment]
    from click.exceptions import ClickException  # type: ignore[assignment]

# name → (module, attribute: a typer app or a command function, one-line help). Command modules import
# pandas, SQLAlchemy and scikit-learn; loading only the one a command line names keeps `--version` and
# `--help` fast (tests/cli/test_startup.py checks each help line against its module).
SUBCOMMANDS: dict[str, tuple[str, str, str]] = {
    "experiments": ("loopwright.cli.experiments", "app", "List, create, delete and restore experiments."),
    "runs": (
        "loopwright.cli.runs",
        "app",
        "Search, show, delete and restore runs; end runs whose process died.",
    ),
    "models": (
        "loopwright.cli.models",
        "app",
        "The model registry: versions, aliases, lineage and the audit log.",
    ),
    "db": ("loopwright.cli.db", "app", "Metadata store schema."),
    "tokens": (
        "loopwright.cli.tokens",
        "app",
        "Create, list and revoke API tokens (a user and a role each).",
    ),
    "import": (
        "loopwright.cli.imports",
        "app",
        "Import experiments, runs and models from another tool (MLflow).",
    ),
    "prompts": (
        "loopwright.cli.prompts",
        "app",
        "The prompt registry: versions, aliases and diffs of prompt templates.",
    ),
    "traces": (
        "loopwright.cli.traces",
        "app",
        "LLM traces: list, show as a tree, export and import OpenTelemetry.",
    ),
    "pipeline": ("loopwright.cli.pipeline", "app", "Run, inspect and export pipelines."),
    "monitor": (
        "loopwright.cli.monitor",
        "app",
        "Profile data, check it for drift, and monitor a serving endpoint's live traffic.",
    ),
    "loop": (
        "loopwright.cli.loop",
        "app",
        "Close the loop: trigger → retrain → gate → canary → promote or roll back.",
    ),
    "k8s": (
        "loopwright.cli.serve",
        "k8s_app",
        "Kubernetes manifests for a model server or the whole platform.",
    ),
    "spark": ("loopwright.cli.spark", "app", "Batch scoring on Spark."),
    "server": (
        "loopwright.cli.server",
        "server",
        "The platform server: the whole store over a REST API for a team (tokens, roles, HA).",
    ),
    "serve": (
        "loopwright.cli.serve",
        "serve",
        "Serve models over HTTP: Open Inference Protocol v2, MLflow /invocations and /endpoints/NAME/predict.",
    ),
    "build-image": (
        "loopwright.cli.serve",
        "build_image",
        "Write a Dockerfile serving the model (and build it when a container engine is reachable).",
    ),
    "evaluate": (
        "loopwright.cli.evaluate",
        "evaluate_command",
        "Compute metrics overall and per slice and the predict latency, log them to a run, write the report.",
    ),
    "gate": (
        "loopwright.cli.gate",
        "gate_command",
        "Evaluate a candidate and the champion on the same data and check a policy; exit 1 when it fails.",
    ),
}


class LazyGroup(TyperGroup):
    """The root command: sub-commands are imported when a command line names them, not at start-up."""

    _listing = False

    def list_commands(self, ctx: Context) -> list[str]:
        return [*SUBCOMMANDS, *super().list_commands(ctx)]

    def get_command(self, ctx: Context, cmd_name: str) -> Command | None:
        if cmd_name not in SUBCOMMANDS:
            return super().get_command(ctx, cmd_name)
        if self._listing:  # the root's help lists names and help lines only
            return TyperCommand(cmd_name, help=SUBCOMMANDS[cmd_name][2])
        return load_subcommand(cmd_name)

    def format_help(self, ctx: Context, formatter: Any) -> None:
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False


def load_subcommand(name: str) -> Command:
    """The real command behind ``name`` (importing its module), as ``app.add_typer`` would have made it."""
    module, attribute, _ = SUBCOMMANDS[name]
    target = getattr(importlib.import_module(module), attribute)
    holder = typer.Typer(add_completion=False)
    holder.callback()(_no_options)  # a callback keeps the holder a group even with one command
    if isinstance(target, typer.Typer):
        holder.add_typer(target, name=name)
    else:
        holder.command(name)(target)
    group = typer.main.get_command(holder)
    assert isinstance(group, TyperGroup)
    return group.commands[name]


def _no_options() -> None:
    """(the holder group's callback: takes nothing)"""


app = typer.Typer(
    cls=LazyGroup,
    help="Loopwright: pipelines, tracking, gates, registry, serving and monitoring in one loop.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _version(value: bool) -> None:
    if value:
        console.print(f"loopwright {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Show the version."
    ),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log at INFO level."),
) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    # each Loopwright warning is also logged as one WARNING line: show that, not Python's two-line display
    warnings.simplefilter("ignore", LoopwrightWarning)


@app.command()
def gc(
    grace: float = typer.Option(
        3600.0, help="Seconds an unreferenced blob must be old before it is removed."
    ),
    predictions_older_than: str | None = typer.Option(
        None,
        "--predictions-older-than",
        help="Expire prediction-log files whose rows are all older (30d); monitor windows, "
        "pending labels, ongoing canaries, registered versions and lineage keep theirs.",
    ),
    compact_predictions: str | None = typer.Option(
        None,
        "--compact-predictions",
        help="Merge small prediction-log files into one per bucket of this width (1h, 1d).",
    ),
    label_horizon: str = typer.Option(
        "7d",
        "--label-horizon",
        help="How long windows with missing labels keep their rows (the monitor's label_lookback).",
    ),
    deleted_older_than: str | None = typer.Option(
        None,
        "--deleted-older-than",
        help="Purge only runs and experiments deleted at least this long ago (7d); later ones stay restorable.",
    ),
) -> None:
    """Purge deleted runs and experiments, expire and compact the prediction log, and remove
    every blob no live record points to; prints what each kind freed."""
    from rich.table import Table

    from loopwright.tracking import fluent

    report = fluent.gc(
        grace_seconds=grace,
        predictions_older_than=predictions_older_than,
        compact_predictions=compact_predictions,
        label_horizon=label_horizon,
        deleted_older_than=deleted_older_than,
    )
    table = Table("freed", "files", "rows", "bytes", title="loopwright gc")
    for kind, freed in report.details.get("freed", {}).items():
        table.add_row(
            kind.replace("_", " "), f"{freed['files']:,}", f"{freed['rows']:,}", f"{freed['bytes']:,}"
        )
    console.print(table)
    kept = report.details.get("kept_prediction_files")
    if kept:
        console.print("kept prediction-log files: " + ", ".join(f"{n} ({why})" for why, n in kept.items()))
    console.print(
        f"removed {report.runs} runs, {report.experiments} experiments, "
        f"{report.blobs} blobs ({report.bytes:,} bytes)"
    )


@app.command()
def demo(
    keep_serving: bool = typer.Option(
        False, "--keep-serving", help="Serve the web UI on the demo's store afterwards, until Ctrl-C."
    ),
    port: int = typer.Option(5000, "--port", help="The web UI's port (127.0.0.1)."),
    llm: bool = typer.Option(
        False,
        "--llm",
        help="Only the LLM chapter: a RAG over bundled text, two prompt versions evaluated, gated, traced.",
    ),
) -> None:
    """Run the end-to-end demo on embedded defaults, then point at (or serve) the web UI."""
    from rich.console import Console

    from loopwright.demo import run_demo

    # piped into a log, rich assumes 80 columns and folds the monitoring table letter by letter
    out = console if console.is_terminal or "COLUMNS" in os.environ else Console(width=160)
    if llm:
        from loopwright.demo.llm import run_llm_demo

        run_llm_demo(out)
        return
    run_demo(out, keep_serving=keep_serving, port=port)


def main() -> None:
    """Entry point: run the app, turning our errors into one clear line."""
    debug = get_settings().debug
    try:
        code = app(standalone_mode=False)
    except LoopwrightError as error:
        if debug:
            raise
        # soft_wrap: the message stays one line however narrow the terminal (or pipe) is
        err_console.print(f"[red]error:[/] {error_line(error)}", highlight=False, soft_wrap=True)
        sys.exit(1)
    except typer.Abort:
        err_console.print("aborted")
        sys.exit(130)
    except ClickException as error:  # usage: unknown command, missing argument, bad option value
        if type(error).__name__ == "NoArgsIsHelpError":  # a bare group: its help is the answer
            error.show()
            sys.exit(error.exit_code)
        if debug:
            raise
        err_console.print(f"[red]error:[/] {escape(_usage_line(error))}", highlight=False, soft_wrap=True)
        sys.exit(error.exit_code)
    except typer.Exit as error:
        sys.exit(error.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as error:  # a bug of ours: still one line unless debugging
        if debug:
            raise
        err_console.print(
            f"[red]error:[/] {type(error).__name__}: {error_line(error)} (set LOOPWRIGHT_DEBUG=1 for details)",
            highlight=False,
            soft_wrap=True,
        )
        sys.exit(2)
    sys.exit(code if isinstance(code, int) else 0)


def _usage_line(error: ClickException) -> str:
    """The message of a usage error, on one line, with where to get help."""
    message = " ".join(error.format_message().split())
    ctx = getattr(error, "ctx", None)
    if ctx is not None:
        return f"{message} (see '{ctx.command_path} --help')"
    return message
