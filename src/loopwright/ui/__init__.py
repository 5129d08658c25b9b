"""The web UI: server-rendered pages at ``/`` of ``loopwright server``, assets under ``/static/``.

Pages are Jinja2 templates (autoescaped) rendered from the server's own store; charts are inline SVG
drawn on the server (:mod:`loopwright.reports.charts`); htmx (16 KB gzip, vendored in ``static/``)
swaps table pages and chart options without a build step. No CDN: the wheel carries every asset.
"""

from loopwright.ui.app import mount_ui

__all__ = ["mount_ui"]
