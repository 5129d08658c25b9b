"""Offline HTML reports: inline SVG charts and the page shell, shared by evaluation and monitoring.

Nothing here knows about models or drift: callers turn their results into chart inputs and
``<section>`` blocks, and :func:`render_page` wraps them into one self-contained page.
"""

from loopwright.reports.page import render_page

__all__ = ["render_page"]
