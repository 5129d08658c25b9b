"""Rich rendering shared by the command groups: tables, not dicts."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

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


def table(title: str | None, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> Table:
    out = Table(title=title, title_justify="left", header_style="bold")
    for column in columns:
        out.add_column(column, overflow="fold")
    for row in rows:
        out.add_row(*(fmt(cell) for cell in row))
    return out


def key_values(title: str, mapping: dict[str, Any]) -> Table:
    return table(title, ["key", "value"], sorted(mapping.items()))
