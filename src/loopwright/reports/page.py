"""The page shell every offline HTML report shares: inline CSS, a header, a little inline JavaScript.

The JavaScript makes every ``table.sortable`` sortable by clicking its headers, wires an optional
``#only-drifted`` checkbox to hide rows/cards whose ``data-drifted`` is not ``true``, and marks the
page ``data-report-ready="true"`` when it ran to its end (the browser tests look for that). Nothing
is loaded from the network: no CDN, no fonts, no images other than inline SVG.

Examples
--------
>>> html = render_page("Model <b>A</b>", "<section><p>hi</p></section>", note="from test data.")
>>> html.startswith("<!DOCTYPE html>"), "Model &lt;b&gt;A&lt;/b&gt;" in html, "from test data." in html
(True, True, True)
"""

from __future__ import annotations

from datetime import UTC, datetime
from html import escape
from importlib import resources
from string import Template

from loopwright._version import __version__


def render_page(title: str, body: str, *, note: str = "") -> str:
    """One self-contained HTML page.

    Parameters
    ----------
    title : str
        The page and header title (escaped here).
    body : str
        HTML for ``<main>``: usually ``<section>`` blocks (trusted: callers escape their values).
    note : str
        Plain text after "Generated … by Loopwright X" in the header, e.g. what the page was built from.

    Returns
    -------
    str
    """
    template = Template(
        (resources.files("loopwright.reports") / "templates" / "page.html").read_text("utf-8")
    )
    return template.substitute(
        title=escape(title),
        version=escape(__version__),
        generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        note=escape(note),
        body=body,
    )
