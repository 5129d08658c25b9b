"""Rich rendering shared by the command groups: tables that stay readable at 80 columns (a pipe, a CI
log, a narrow terminal), and the same data as JSON or CSV for scripts (``--output``).

Tables keep ids, numbers, times and short words whole on one line (ids cut to their shortest unique
prefix, like git's), cut long text with an ellipsis, and leave out trailing number columns that
cannot fit (saying so); ``--output json`` prints the API's ``to_dict()``, ``--output csv`` the
table's columns with full ids and exact numbers.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Collection, Iterable, Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

console = Console()
err_console = Console(stderr=True)

MIN_ID = 8  # shortest id prefix shown, as git's default abbreviation (7) plus one
SHORT_TEXT = 12  # text cells up to this long (states, statuses, names) are never cut
TEXT_FLOOR = 6  # a cut text column keeps at least this many characters


class Output(StrEnum):
    """What a list or show command prints."""

    table = "table"
    json = "json"
    csv = "csv"


# one definition of the options every list and show command takes (typer copies them per command)
OutputOption: Any = typer.Option(
    Output.table,
    "--output",
    case_sensitive=False,
    help="table (fits the terminal), json (the API's to_dict()) or csv (full ids, exact numbers).",
)
FullIdsOption: Any = typer.Option(
    False, "--full-ids", help="Show whole ids, not their shortest unique prefix."
)


def error_line(error: BaseException) -> str:
    r"""An error message on one line (driver messages span several), safe from rich markup.

    >>> print(error_line(ValueError("run 'a[b]c' not found\n  (hint)")))
    run 'a\[b]c' not found (hint)
    """
    return escape(" ".join(str(error).split()))


def fmt(value: Any) -> str:
    """A cell: floats to 4 significant digits, ISO times without microseconds, '' for None.

    >>> fmt(0.912345678), fmt(1433.01e-8), fmt(3), fmt(None)
    ('0.9123', '1.433e-05', '3', '')
    """
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return str(value)


def short_ids(ids: Iterable[str], minimum: int = MIN_ID) -> dict[str, str]:
    """Each id's shortest prefix (at least ``minimum`` characters) that no other id shown shares.

    >>> short_ids(["3f9a0c12aa", "3f9a0c12bb", "77d01e9f00"])
    {'3f9a0c12aa': '3f9a0c12a', '3f9a0c12bb': '3f9a0c12b', '77d01e9f00': '77d01e9f'}
    """
    ordered = sorted(set(ids))
    prefixes = {}
    for k, current in enumerate(ordered):
        shared = max(
            (_common(current, ordered[j]) for j in (k - 1, k + 1) if 0 <= j < len(ordered)), default=0
        )
        prefixes[current] = current[: max(minimum, shared + 1)]
    return prefixes


def _common(a: str, b: str) -> int:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return n


def table(
    title: str | None,
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    markup: bool = False,
    ids: Collection[str] = (),
    full_ids: bool = False,
    whole: Collection[str] = (),
) -> Table:
    """A table that fits the console: whole ids (shortened), numbers and short words; long text cut.

    Strings are shown literally (names, params and tags are user text: ``[relu, tanh]`` or ``[/]``
    must not be read as rich markup). With ``markup=True`` strings are rich markup, and the caller
    escapes the data in them. Columns named in ``ids`` hold ids, shown as their shortest unique
    prefix unless ``full_ids``; columns named in ``whole`` (time ranges …) are never cut either.
    """
    data = [list(row) for row in rows]
    shortened = {}
    for index, column in enumerate(columns):
        if column in ids and not full_ids:
            shortened[index] = short_ids(str(row[index]) for row in data if row[index] not in (None, ""))
    cells = [
        [
            _text(shortened[i].get(str(value), "") if i in shortened and value is not None else value, markup)
            for i, value in enumerate(row)
        ]
        for row in data
    ]
    kinds = [
        _kind(columns[i], [row[i] for row in data], [row[i] for row in cells], columns[i] in whole)
        for i in range(len(columns))
    ]
    keep, slack = _fitting(columns, kinds, cells)
    out = Table(title=title, title_justify="left", header_style="bold")
    dropped = [columns[i] for i in range(len(columns)) if i not in keep]
    if dropped:
        out.caption = f"not shown (too narrow): {', '.join(dropped)}; --output csv has every column"
        out.caption_justify = "left"
    for i in keep:
        width, numeric = kinds[i]
        if width is not None and len(columns[i]) > width and slack > 0:  # room left: the header stays whole
            grow = min(slack, len(columns[i]) - width)
            width, slack = width + grow, slack - grow
        header = Text(columns[i], no_wrap=False, overflow="fold")
        if width is None:  # text: the column shrinks, each cell stays one line, cut with "…"
            out.add_column(header, overflow="ellipsis")
        else:  # whole values: never wrapped; the header wraps to the values' width
            # an id that does not fit (--full-ids) folds rather than lose characters
            overflow: Literal["fold", "ellipsis"] = "fold" if columns[i] in ids else "ellipsis"
            out.add_column(
                header,
                no_wrap=True,
                overflow=overflow,
                max_width=width,
                justify="right" if numeric else "left",
            )
    for row in cells:
        out.add_row(*(row[i] for i in keep))
    return out


def _text(value: Any, markup: bool) -> Text:
    """A one-line cell: newlines in user text (errors, logs) become spaces; long text ends in "…"."""
    if isinstance(value, Text):
        text = value
    elif markup and isinstance(value, str):
        text = Text.from_markup(value)
    else:
        text = Text(" ".join(fmt(value).split()))
    text.no_wrap = True
    text.overflow = "ellipsis"
    return text


def _kind(column: str, values: list[Any], cells: list[Text], whole: bool) -> tuple[int | None, bool]:
    """(width of a whole-value column, or None for cut-able text; whether it holds numbers)."""
    present = [v for v in values if v not in (None, "")]
    numeric = bool(present) and all(isinstance(v, int | float) and not isinstance(v, bool) for v in present)
    content = max((c.cell_len for c in cells), default=0)
    whole = whole or numeric or all(isinstance(v, datetime) for v in present) or content <= SHORT_TEXT
    if not whole:
        return None, False
    header_word = max((len(word) for word in column.split()), default=1)
    return max(content, min(header_word, SHORT_TEXT), 1), numeric


def _fitting(
    columns: Sequence[str], kinds: list[tuple[int | None, bool]], cells: list[list[Text]]
) -> tuple[list[int], int]:
    """The columns that fit the console (trailing number columns go first when whole values overflow),
    and the characters left over."""
    keep = list(range(len(columns)))

    def needed() -> int:
        widths = [
            kinds[i][0] or min(TEXT_FLOOR, max((row[i].cell_len for row in cells), default=1)) for i in keep
        ]
        return sum(w + 2 for w in widths) + len(keep) + 1  # padding, then the borders

    while needed() > console.width:
        numbers = [i for i in keep[1:] if kinds[i][1]]
        if not numbers:
            break
        keep.remove(numbers[-1])
    return keep, max(console.width - needed(), 0)


def key_values(title: str, mapping: dict[str, Any]) -> Table:
    """A two-column table of a mapping, sorted by key (a show command's attributes)."""
    return table(title, ["key", "value"], sorted(mapping.items()))


def render(
    output: Output,
    entities: Sequence[Any],
    title: str | None,
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    markup: bool = False,
    ids: Collection[str] = (),
    full_ids: bool = False,
) -> None:
    """Print a list command's result: the table, ``[e.to_dict() for e in entities]`` as JSON, or the
    table's columns as CSV (full ids, exact numbers, plain text).

    >>> render(Output.csv, [], None, ["id", "auc"], [("3f9a0c12aa", 0.912345678)])
    id,auc
    3f9a0c12aa,0.912345678
    """
    if output is Output.json:
        print_json([e.to_dict() for e in entities])
    elif output is Output.csv:
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows([_raw(cell, markup) for cell in row] for row in rows)
    else:
        console.print(table(title, columns, rows, markup=markup, ids=ids, full_ids=full_ids))


def render_one(output: Output, entity: Any) -> bool:
    """A show command's JSON (``entity.to_dict()``) or CSV (one row of its fields; nested values as
    JSON); False when the output is a table, which the command prints itself.

    >>> from loopwright.store.entities import Experiment
    >>> render_one(Output.csv, Experiment("e1", "churn"))
    id,name,lifecycle,tags,created_at,deleted_at
    e1,churn,active,{},,
    True
    """
    if output is Output.table:
        return False
    data = entity.to_dict()
    if output is Output.json:
        print_json(data)
        return True
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(data)
    writer.writerow(
        "" if v is None else json.dumps(v, sort_keys=True) if isinstance(v, dict | list) else v
        for v in data.values()
    )
    return True


def print_json(data: Any) -> None:
    """JSON on stdout, unwrapped and uncoloured whatever the terminal (scripts parse it)."""
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def _raw(value: Any, markup: bool) -> Any:
    if isinstance(value, Text):
        return value.plain
    if markup and isinstance(value, str):
        return Text.from_markup(value).plain
    if isinstance(value, datetime):
        return value.isoformat()
    return "" if value is None else value
