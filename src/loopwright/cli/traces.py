"""``loopwright traces …`` — mirrors ``lw.search_traces`` / ``lw.get_trace`` / ``lw.export_traces`` /
``lw.import_traces``."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape
from rich.tree import Tree

from loopwright.cli.render import FullIdsOption, Output, OutputOption, console, render, render_one
from loopwright.llm import otlp, tracing
from loopwright.store.entities import Trace, TraceSpan

app = typer.Typer(
    help="LLM traces: list, show as a tree, export and import OpenTelemetry.", no_args_is_help=True
)


def _ms(value: float | None) -> str:
    return "running" if value is None else f"{value:,.1f} ms"


@app.command("list")
def list_(
    filter: str = typer.Option(
        None, "--filter", "-f", help="e.g. \"status = 'error' and duration_ms > 500\""
    ),
    max_results: int = typer.Option(50, "--max-results", "-n"),
    output: Output = OutputOption,
    full_ids: bool = FullIdsOption,
) -> None:
    """List traces, newest first."""
    found = tracing.search_traces(filter, None, max_results)
    render(
        output,
        found,
        "traces",
        ["id", "name", "status", "start", "duration", "spans", "tokens", "cost", "prompt", "run"],
        [
            (
                t.id,
                t.name,
                t.status,
                t.start_time,
                _ms(t.duration_ms),
                t.attributes.get("spans", ""),
                (t.input_tokens or 0) + (t.output_tokens or 0) or "",
                "" if t.cost is None else f"{t.cost:.4f}",
                t.prompt or "",
                t.run_id or "",
            )
            for t in found
        ],
        ids={"id", "run"},
        full_ids=full_ids,
    )


@app.command()
def show(trace_id: str, output: Output = OutputOption) -> None:
    """Show a trace as a tree of spans with their kinds, timings and status."""
    found = tracing.get_trace(trace_id)
    if render_one(output, found):
        return
    console.print(trace_tree(found))


def trace_tree(found: Trace) -> Tree:
    """A trace (with its spans) as a rich tree: kinds, offsets, timings, tokens, errors."""
    children: dict[str | None, list[TraceSpan]] = {}
    ids = {s.span_id for s in found.spans}
    for span in found.spans:
        parent = span.parent_id if span.parent_id in ids else None
        children.setdefault(parent, []).append(span)

    def label(span: TraceSpan) -> str:
        mark = "[red]✗[/]" if span.status == "error" else "[green]✓[/]"
        offset = (span.start_us - found.start_us) / 1000
        tokens = span.attributes.get("input_tokens"), span.attributes.get("output_tokens")
        usage = f"  tokens {tokens[0] or 0}→{tokens[1] or 0}" if any(tokens) else ""
        error = f"  [red]{escape(span.error)}[/]" if span.error else ""
        return f"{mark} [bold]{escape(span.name)}[/] [dim]{span.kind}[/]  +{offset:,.1f} ms  {_ms(span.duration_ms)}{usage}{error}"

    def grow(node: Tree, parent: str | None) -> None:
        for span in children.get(parent, []):
            grow(node.add(label(span)), span.span_id)

    title = f"trace {found.id} [bold]{escape(found.name)}[/] {found.status} {_ms(found.duration_ms)}"
    links = [
        f"{k} {v}" for k, v in (("run", found.run_id), ("prompt", found.prompt), ("model", found.model)) if v
    ]
    tree = Tree(title + (f"  [dim]({', '.join(links)})[/]" if links else ""))
    grow(tree, None)
    return tree


@app.command("export")
def export(
    destination: str = typer.Argument(..., help="A file, or an OTLP collector URL (http://host:4318)."),
    filter: str = typer.Option(None, "--filter", "-f"),
    max_results: int = typer.Option(1000, "--max-results", "-n"),
) -> None:
    """Export traces as OpenTelemetry (OTLP/JSON)."""
    count = otlp.export_traces(destination, filter, max_results)
    console.print(f"exported {count} trace{'s' if count != 1 else ''} to {escape(destination)}")


@app.command("import")
def import_(source: Path) -> None:
    """Import traces from an OTLP/JSON file (spans other OpenTelemetry instrumentation wrote)."""
    count = otlp.import_traces(source)
    console.print(f"imported {count} trace{'s' if count != 1 else ''} from {escape(str(source))}")
