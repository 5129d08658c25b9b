"""``loopwright gate MODEL --policy gate.yaml --data holdout.parquet --target churned`` — mirrors ``lw.gate``.

A prompt version is gated the same way with the app that uses it:
``loopwright gate prompts:/support-answer/4 --policy gate.yaml --data qa.parquet --app myapp:build
--champion-alias production --promote production`` (``--app`` names a factory taking the
``PromptVersion``; ``--scorer`` adds scorers by name; see ``loopwright.llm.evaluation.gate_prompt``).

Exit codes, for CI/CD: **0** the gate passed, **1** it failed (a rule did not hold), **2** the gate
could not run (bad policy, missing file or column, unknown model …; one line on stderr).
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape

from loopwright.cli.render import console, err_console, error_line, fmt, table
from loopwright.errors import LoopwrightError
from loopwright.evaluation import GateResult, gate

FAILED = 1
UNUSABLE = 2


def gate_rows(verdict: GateResult) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    for check in verdict.checks:
        metric = check.metric if check.scope == "overall" else f"{check.metric} [{check.scope}]"
        result = "[green]pass[/]" if check.passed else "[bold red]FAIL[/]"
        if check.inconclusive:  # counted as the policy says; the word tells the reader it was not judged
            result = f"[yellow]inconclusive[/] ({'pass' if check.passed else 'fail'})"
        cells = (escape(metric), fmt(check.candidate), fmt(check.champion), check.rule)
        rows.append((*cells, result, escape(check.reason)))
    return rows


def gate_command(
    model_uri: str = typer.Argument(
        ..., help="The candidate: models:/NAME/VERSION (or models:/NAME@ALIAS), or prompts:/NAME/VERSION."
    ),
    policy: str = typer.Option(
        ...,
        "--policy",
        "-p",
        help="The gate policy: a .yaml/.json file, or the YAML text itself "
        '("metric_thresholds: {roc_auc: {min: 0.8}}"), as lw.gate takes it.',
    ),
    data: Path = typer.Option(..., "--data", "-d", help="Labelled hold-out data (.parquet or .csv)."),
    target: str = typer.Option(None, "--target", "-t", help="The label column (models)."),
    task: str = typer.Option(None, "--task", help="classification or regression (default: inferred)."),
    slices: list[str] = typer.Option(
        None, "--slice", "-s", help="Also report this slice column (repeatable)."
    ),
    promote: str = typer.Option(
        None, "--promote", help="On a pass, point this alias (e.g. challenger) at the candidate."
    ),
    champion_alias: str = typer.Option("champion", "--champion-alias", help="The alias naming the champion."),
    latency_sample: int = typer.Option(
        200, "--latency-sample", help="Single-row predict calls timed per model."
    ),
    app: str = typer.Option(
        None,
        "--app",
        help="Prompts: module:function taking the PromptVersion, returning the app to evaluate.",
    ),
    scorers: list[str] = typer.Option(None, "--scorer", help="Prompts: also run this scorer (repeatable)."),
) -> None:
    """Evaluate a candidate and the champion on the same data and check a policy; exit 1 when it fails."""
    try:
        verdict = gate(
            model_uri,
            policy,
            data,
            target,
            task=task,
            slices=slices or None,
            promote=promote,
            champion_alias=champion_alias,
            latency_sample=latency_sample,
            app=app,
            scorers=scorers or (),
        )
    except LoopwrightError as error:
        err_console.print(f"[red]error:[/] {error_line(error)}", highlight=False, soft_wrap=True)
        raise typer.Exit(UNUSABLE) from None
    champion = verdict.champion_uri or "no champion"
    console.print(
        table(
            f"Gate {verdict.model_uri} vs {champion} ({verdict.candidate.n_rows:,} rows)",
            ["metric", "candidate", "champion", "rule", "result", "note"],
            gate_rows(verdict),
            markup=True,
        )
    )
    for note in verdict.notes:
        console.print(f"note: {note}", highlight=False)
    if verdict.model_uri.startswith("prompts:/"):  # an LLM evaluation has its run, no HTML report
        console.print(f"candidate run: {verdict.candidate.run_id}", highlight=False)
        if verdict.champion is not None:
            console.print(f"champion run: {verdict.champion.run_id}", highlight=False)
    else:
        console.print(f"candidate report: {verdict.candidate.report_path}", highlight=False, soft_wrap=True)
        if verdict.champion is not None:
            console.print(f"champion report: {verdict.champion.report_path}", highlight=False, soft_wrap=True)
    if verdict.passed:
        promoted = f"; alias {verdict.promoted!r} -> {verdict.model_uri}" if verdict.promoted else ""
        console.print(f"[bold green]PASSED[/] all {len(verdict.checks)} checks{promoted}", highlight=False)
        return
    console.print(
        f"[bold red]FAILED[/] {len(verdict.failures)} of {len(verdict.checks)} checks"
        + (f"; alias {promote!r} not moved" if promote else ""),
        highlight=False,
    )
    raise typer.Exit(FAILED)
