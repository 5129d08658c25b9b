"""``loopwright prompts …`` — mirrors ``lw.search_prompts`` / ``lw.load_prompt`` / ``lw.diff_prompts`` /
``lw.set_prompt_alias``."""

from __future__ import annotations

import typer

from loopwright.cli.render import Output, OutputOption, console, render, render_one, table
from loopwright.llm import prompts

app = typer.Typer(
    help="The prompt registry: versions, aliases and diffs of prompt templates.", no_args_is_help=True
)


@app.command("list")
def list_(
    filter: str = typer.Option(None, "--filter", "-f", help="e.g. \"name LIKE 'support%'\""),
    output: Output = OutputOption,
) -> None:
    """List prompts with their latest version and aliases."""
    found = prompts.search_prompts(filter)
    render(
        output,
        found,
        "prompts",
        ["name", "latest", "aliases", "updated"],
        [
            (p.name, p.latest_version, ", ".join(f"{a}→{v}" for a, v in p.aliases.items()), p.updated_at)
            for p in found
        ],
    )


@app.command()
def show(
    name: str = typer.Argument(..., help="NAME, or prompts:/NAME/VERSION or prompts:/NAME@ALIAS."),
    version: int = typer.Option(None, "--version", "-v", help="A version of NAME (default: the latest)."),
    output: Output = OutputOption,
) -> None:
    """Show one version: its template, variables, metadata and aliases."""
    found = prompts.load_prompt(name, version)
    if render_one(output, found):
        return
    console.print(
        table(
            found.uri,
            ["field", "value"],
            [
                ("variables", ", ".join(found.variables) or "none"),
                ("aliases", ", ".join(found.aliases) or "none"),
                ("metadata", found.metadata or ""),
                ("created", found.created_at),
                ("by", found.created_by),
                ("digest", found.digest),
            ],
        )
    )
    console.print(found.template, markup=False, highlight=False)


@app.command()
def diff(name: str, v1: int, v2: int) -> None:
    """A unified diff of two versions of a prompt (template, then metadata)."""
    text = prompts.diff_prompts(name, v1, v2)
    console.print(text or f"versions {v1} and {v2} of {name!r} are the same", markup=False, highlight=False)


@app.command()
def alias(
    name: str,
    alias: str,
    version: int = typer.Argument(None, help="The version to point the alias at."),
    delete: bool = typer.Option(False, "--delete", help="Remove the alias instead."),
) -> None:
    """Point a prompt alias (production, candidate …) at a version, or remove it; audited."""
    if delete:
        prompts.delete_prompt_alias(name, alias)
        console.print(f"removed alias [bold]{alias}[/] of prompt [bold]{name}[/]")
        return
    if version is None:
        raise typer.BadParameter("give the VERSION to point the alias at (or --delete)")
    moved = prompts.set_prompt_alias(name, alias, version)
    console.print(f"prompt [bold]{name}[/] alias [bold]{alias}[/] → version {moved.version}")
