"""The ``loopwright`` command: one typer app, one sub-app per command group.

Errors print one line and exit non-zero; set ``LOOPWRIGHT_DEBUG=1`` for a traceback.
"""

from __future__ import annotations

import logging
import os
import sys
import warnings

import typer
from rich.markup import escape

from loopwright import __version__
from loopwright.cli import (
    db,
    evaluate,
    experiments,
    gate,
    loop,
    models,
    monitor,
    pipeline,
    runs,
    serve,
    spark,
)
from loopwright.cli.render import console, err_console, error_line
from loopwright.errors import LoopwrightError, LoopwrightWarning

try:  # typer >= 0.22 vendors its own click (and no longer depends on the click package)
    from typer._click.exceptions import ClickException
except ImportError:  # older typer runs on click itself
    from click.exceptions import ClickException  # type: ignore[assignment]

app = typer.Typer(
    help="Loopwright: pipelines, tracking, gates, registry, serving and monitoring in one loop.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(experiments.app, name="experiments")
app.add_typer(runs.app, name="runs")
app.add_typer(models.app, name="models")
app.add_typer(db.app, name="db")
app.add_typer(pipeline.app, name="pipeline")
app.add_typer(monitor.app, name="monitor")
app.add_typer(loop.app, name="loop")
app.add_typer(serve.k8s_app, name="k8s")
app.add_typer(spark.app, name="spark")
app.command("serve")(serve.serve)
app.command("build-image")(serve.build_image)
app.command("evaluate")(evaluate.evaluate_command)
app.command("gate")(gate.gate_command)


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
) -> None:
    """Purge deleted runs and experiments and every blob no live record points to."""
    from loopwright.tracking import fluent

    report = fluent.gc(grace_seconds=grace)
    console.print(
        f"removed {report.runs} runs, {report.experiments} experiments, "
        f"{report.blobs} blobs ({report.bytes:,} bytes)"
    )


@app.command()
def demo() -> None:
    """Run the end-to-end demo on embedded defaults."""
    from rich.console import Console

    from loopwright.demo import run_demo

    # piped into a log, rich assumes 80 columns and folds the monitoring table letter by letter
    run_demo(console if console.is_terminal or "COLUMNS" in os.environ else Console(width=160))


def main() -> None:
    """Entry point: run the app, turning our errors into one clear line."""
    debug = bool(os.environ.get("LOOPWRIGHT_DEBUG"))
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
