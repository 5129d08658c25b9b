"""Rich rendering shared by the command groups: tables, not dicts."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

console = Console()
err_console = Console(stderr=True)


def error_line(error: BaseException) -> str:
    r"""An error message on one line (driver messages span several), safe from rich markup.

    >>> print(error_line(ValueError("run 'a[b]c' not found\n  (hint)")))
    run 'a\[b]c' not found (hint)
    """
    return escape(" ".join(str(error).split()))


def fmt(value: Any) -> str:
    """A cell: short floats, ISO times without microseconds, '' for None."""
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return str(value)


def table(
    title: str | None, columns: Sequence[str], rows: Iterable[Sequence[Any]], *, markup: bool = False
) -> Table:
    """A table of cells; strings are shown literally (names, params and tags are user text:
    ``[relu, tanh]`` or ``[/]`` must not be read as rich markup). With ``markup=True`` strings are
    rich markup, and the caller escapes the data in them."""
    out = Table(title=title, title_justify="left", header_style="bold")
    for column in columns:
        out.add_column(column, overflow="fold")
    for row in rows:
        out.add_row(*(_cell(fmt(cell) if not isinstance(cell, Text) else cell, markup) for cell in row))
    return out


def _cell(value: str | Text, markup: bool) -> str | Text:
    return value if markup or isinstance(value, Text) else Text(value)


def key_values(title: str, mapping: dict[str, Any]) -> Table:
    return table(title, ["key", "value"], sorted(mapping.items()))
