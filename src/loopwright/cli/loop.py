"""``loopwright loop run|status|pause|resume|rollback`` — mirrors ``lw.step_loop`` /
``Loop.run_forever``, ``lw.get_loop_state`` / ``lw.list_loop_history`` and ``lw.pause_loop`` /
``lw.resume_loop`` / ``lw.rollback_loop``."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import typer
from rich.markup import escape

from loopwright.cli.gate import gate_rows
from loopwright.cli.render import Output, OutputOption, console, fmt, print_json, render, table
from loopwright.durations import format_duration
from loopwright.errors import InvalidInput
from loopwright.loop import (
    Loop,
    LoopResult,
    get_loop_state,
    list_loop_history,
    pause_loop,
    resume_loop,
    rollback_loop,
)
from loopwright.store.entities import LoopState, LoopTransition, now_ms
from loopwright.tracking.client import get_client

app = typer.Typer(
    help="Close the loop: trigger → retrain → gate → canary → promote or roll back.",
    no_args_is_help=True,
)

STATE_STYLE = {
    "idle": "dim",
    "retraining": "yellow",
    "gated": "yellow",
    "canary": "cyan",
    "promoted": "bold green",
    "rolled_back": "bold red",
    "failed": "red",
}


def _state(name: str) -> str:
    return f"[{STATE_STYLE.get(name, '')}]{name}[/]"


def _time(ms: int | None) -> str:
    return "" if not ms else datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _duration(transition: LoopTransition, latest: bool) -> str:
    """How long the loop stayed in the state this transition entered; the latest: so far."""
    if transition.duration_ms is not None:
        return format_duration(transition.duration_ms)
    so_far = now_ms() - transition.time_ms
    return f"{format_duration(so_far)} so far" if latest and so_far >= 0 else ""


def _transitions(title: str, transitions: list[LoopTransition]) -> object:
    return table(title, *_transitions_rows(transitions), markup=True)


def _transitions_rows(transitions: list[LoopTransition]) -> tuple[list[str], list[tuple[object, ...]]]:
    return (
        ["#", "cycle", "time (UTC)", "from", "to", "duration", "version", "by", "reason"],
        [
            (
                t.id,
                t.cycle,
                _time(t.time_ms),
                _state(t.from_state),
                _state(t.to_state),
                _duration(t, k == len(transitions) - 1),
                t.version,
                escape(t.actor or ""),
                escape(t.reason),
            )
            for k, t in enumerate(transitions)
        ],
    )


def _show(result: LoopResult) -> None:
    version = f"v{result.candidate.version}" if result.candidate else ""
    console.print(
        table(
            f"loop {result.model}",
            ["cycle", "state", "triggered", "candidate", "promoted", "rolled back", "reason"],
            [
                (
                    result.cycle,
                    _state(result.state),
                    "yes" if result.triggered else "no",
                    version,
                    "yes" if result.promoted else "",
                    "yes" if result.rolled_back else "",
                    escape(result.reason),
                )
            ],
            markup=True,
        )
    )
    if result.transitions:
        console.print(_transitions("transitions this step", result.transitions))
    if result.gate is not None:
        gate = result.gate
        console.print(
            table(
                f"gate {gate.model_uri} vs {gate.champion_uri or 'no champion'}",
                ["metric", "candidate", "champion", "rule", "result", "note"],
                gate_rows(gate),
                markup=True,
            )
        )
    c = result.canary
    if c is not None and not c.checks:
        console.print(f"canary v{c.version}: {c.requests} requests, {c.n_rows} rows, {c.labelled} labelled")
    elif c is not None:
        console.print(
            table(
                f"canary v{c.version} ({c.requests} requests, {c.n_rows} rows, {c.labelled} labelled)",
                [
                    "rule",
                    "canary",
                    f"champion v{c.champion_version}" if c.champion_version else "champion",
                    "result",
                    "note",
                ],
                [
                    (
                        escape(check.rule),
                        fmt(check.value),
                        fmt(check.champion),
                        "[green]pass[/]" if check.passed else "[bold red]FAIL[/]",
                        escape(check.reason),
                    )
                    for check in c.checks
                ],
                markup=True,
            )
        )


@app.command("run")
def run_(
    config: Path = typer.Option(..., "--config", "-c", help="The loop config (YAML)."),
    every: str = typer.Option(None, help="Step again at this interval (5m …) until interrupted."),
    now: str = typer.Option(None, help="Use this time as the clock (ISO 8601; replays and tests)."),
    force: bool = typer.Option(False, "--force", help="Start a cycle even if the trigger did not fire."),
) -> None:
    """Advance the loop: judge the trigger, retrain, gate, run the canary, promote or roll back."""
    loop = Loop(config)
    if every is None:
        _show(loop.step(now, force=force))
        return
    if now is not None or force:
        raise InvalidInput("--every runs on the real clock and its trigger: drop --now/--force")
    console.print(f"stepping the loop of {loop.config.model!r} every {every}; Ctrl-C stops")
    try:
        loop.run_forever(every, on_step=_show)
    except KeyboardInterrupt:
        console.print("stopped")


def _paused(state: LoopState) -> str:
    return (
        f"[bold yellow]by {escape(state.paused_by or '')} since {_time(state.paused_ms)}[/]"
        if state.paused
        else ""
    )


def _states_table(states: list[LoopState]) -> object:
    return table("loops", *_states_rows(states), markup=True)


def _states_rows(states: list[LoopState]) -> tuple[list[str], list[tuple[object, ...]]]:
    return (
        ["model", "state", "cycle", "version", "since (UTC)", "paused", "reason"],
        [
            (s.model, _state(s.state), s.cycle, s.version, _time(s.since_ms), _paused(s), escape(s.reason))
            for s in states
        ],
    )


@app.command("status")
def status(
    model: str = typer.Argument(None, help="The registered model (default: every model's loop)."),
    limit: int = typer.Option(50, help="Show at most this many of the latest transitions."),
    output: Output = OutputOption,
) -> None:
    """Print where a model's loop stands and its history of transitions (json: every loop's state, or
    the model's state with its transitions under ``history``)."""
    if model is None:
        states = get_client().store.list_loop_states()
        if output is not Output.table:
            render(output, states, None, *_states_rows(states), markup=True)
            return
        if not states:
            console.print("no loop has run yet")
            return
        console.print(_states_table(states))
        return
    state = get_loop_state(model)
    history = list_loop_history(model, max_results=limit)
    if output is Output.json:
        print_json({**state.to_dict(), "history": [t.to_dict() for t in history]})
        return
    if output is Output.csv:
        render(output, history, None, *_transitions_rows(history), markup=True)
        return
    console.print(_states_table([state]))
    if history:
        console.print(_transitions(f"history of {model}", history))
    else:
        console.print(f"the loop of {model!r} has not run yet")


REASON = typer.Option(None, "--reason", "-r", help="Why (kept in the loop's history and the audit log).")


def _controlled(state: LoopState) -> None:
    """The loop after an operator's control: its state and the move just recorded."""
    console.print(_states_table([state]))
    console.print(_transitions(f"recorded for {state.model}", list_loop_history(state.model, max_results=1)))


@app.command("pause")
def pause(
    model: str = typer.Argument(..., help="The registered model whose loop to pause."),
    reason: str = REASON,
) -> None:
    """Pause a loop: no trigger starts a cycle, and a canary stays where it is (lw.pause_loop)."""
    _controlled(pause_loop(model, reason))


@app.command("resume")
def resume(
    model: str = typer.Argument(..., help="The registered model whose loop to resume."),
    reason: str = REASON,
) -> None:
    """Resume a paused loop from the state it was paused in (lw.resume_loop)."""
    _controlled(resume_loop(model, reason))


@app.command("rollback")
def rollback(
    model: str = typer.Argument(..., help="The registered model whose loop to roll back."),
    reason: str = REASON,
) -> None:
    """End the canary now, or move the promote alias back to the version it held before the loop's
    last promotion (lw.rollback_loop)."""
    _controlled(rollback_loop(model, reason))
