"""``loopwright evaluate MODEL --data holdout.parquet --target churned`` — mirrors ``lw.evaluate``."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape

from loopwright.cli.render import console, fmt, table
from loopwright.evaluation import evaluate


def evaluate_command(
    model_uri: str = typer.Argument(
        ..., help="models:/NAME/VERSION, models:/NAME@ALIAS or runs:/RUN_ID/model."
    ),
    data: Path = typer.Option(..., "--data", "-d", help="Labelled data (.parquet or .csv)."),
    target: str = typer.Option(..., "--target", "-t", help="The label column."),
    task: str = typer.Option(None, "--task", help="classification or regression (default: inferred)."),
    slices: list[str] = typer.Option(None, "--slice", "-s", help="Slice by this column (repeatable)."),
    report: Path = typer.Option(None, "--report", "-o", help="Also write the HTML report here."),
    latency_sample: int = typer.Option(200, "--latency-sample", help="Single-row predict calls timed."),
) -> None:
    """Compute metrics overall and per slice and the predict latency, log them to a run, write the report."""
    result = evaluate(
        model_uri,
        data,
        target,
        task=task,
        slices=slices or None,
        report_path=report,
        latency_sample=latency_sample,
    )
    reasons = result.missing.get("overall", {})
    console.print(f"{result.model_uri}: {result.task} on {result.n_rows:,} rows", highlight=False)
    console.print(
        table(
            None,
            ["metric", "value", "note"],
            [(name, fmt(value), escape(reasons.get(name, ""))) for name, value in result.metrics.items()],
            markup=True,
        )
    )
    if result.slices:
        frame = result.to_frame().drop(index="overall")
        shown = [
            c for c in frame.columns if c not in ("latency_p50_ms", "latency_p99_ms", "throughput_rows_per_s")
        ]
        console.print(
            table(
                "slices (— = undefined there)",
                ["slice", *shown],
                [
                    (
                        escape(str(scope)),
                        *("—" if row[c] is None or row[c] != row[c] else row[c] for c in shown),
                    )
                    for scope, row in frame.iterrows()
                ],
                markup=True,
            )
        )
    for note in result.notes:
        console.print(f"note: {note}", highlight=False)
    console.print(f"run {result.run_id}; report {result.report_path}", highlight=False, soft_wrap=True)
