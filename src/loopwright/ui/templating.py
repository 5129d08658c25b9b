"""Rendering: one Jinja2 environment (autoescaped), the security headers every page carries.

Examples
--------
>>> html = environment().from_string("<b>{{ name }}</b>").render(name="<script>alert(1)</script>")
>>> html
'<b>&lt;script&gt;alert(1)&lt;/script&gt;</b>'
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse

TEMPLATES = Path(__file__).resolve().parent / "templates"

# no inline script anywhere (htmx and our JS come from /static/); user HTML artifacts are served with
# `sandbox` (an opaque origin) and shown in sandboxed iframes only
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "frame-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'self'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "SAMEORIGIN",
}


@cache
def environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """``template`` rendered for ``request`` (``request`` and the page's nav state are in the context)."""
    page = environment().get_template(template).render(request=request, **context)
    return HTMLResponse(page, status_code=status_code, headers=SECURITY_HEADERS)
