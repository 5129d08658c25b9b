"""Sign-in, the session cookie, CSRF, and the route class every UI page uses.

Stateless across replicas: with ``--auth`` the ``lw_session`` cookie (HttpOnly, SameSite=Strict,
Secure over https) holds the API token itself, checked on every request exactly as a bearer token
is; without ``--auth`` a random ``lw_csrf`` cookie seeds CSRF instead. A form's CSRF field is
``HMAC-SHA256(key=SHA-256(secret), "loopwright-ui-csrf")`` of that cookie's value, so any server
replica verifies it with nothing shared but the token table, and a site that cannot read the
cookie cannot forge the field. Cookies are honoured on UI routes only: ``/api/v1`` keeps bearer
tokens, so a browser session never authorises an API call.

Examples
--------
>>> csrf_for("lw_secret") == csrf_for("lw_secret") != csrf_for("lw_other")
True
>>> len(csrf_for("lw_secret"))
64
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, quote, urlsplit

from fastapi import APIRouter
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from loopwright.auth import Principal, hash_token, role_allows
from loopwright.errors import LoopwrightError, PermissionDenied, Unauthenticated
from loopwright.ui.templating import render

if TYPE_CHECKING:  # the server package imports the UI: a runtime import would be circular
    from loopwright.server.security import Guard

log = logging.getLogger("loopwright.ui")

SESSION_COOKIE = "lw_session"
SEED_COOKIE = "lw_csrf"
CSRF_FIELD = "csrf"
_CSRF_MESSAGE = b"loopwright-ui-csrf"
MAX_FORM_BYTES = 64 * 1024


def csrf_for(secret: str) -> str:
    """The CSRF field value for a session (or seed) ``secret``: an HMAC keyed by the secret's hash."""
    return hmac.new(hash_token(secret).encode(), _CSRF_MESSAGE, hashlib.sha256).hexdigest()


def guard_of(request: Request) -> Guard:
    guard: Guard = request.app.state.guard
    return guard


def _secret(request: Request) -> str | None:
    """The cookie the session's CSRF derives from (the token with --auth, else the seed)."""
    name = SESSION_COOKIE if guard_of(request).enabled else SEED_COOKIE
    return request.cookies.get(name) or getattr(request.state, "csrf_seed", None)


def principal(request: Request) -> Principal:
    """Who is looking: from the session cookie with ``--auth`` (``Unauthenticated`` sends them to the
    sign-in page), the open server's anonymous admin without it. Cached for the role checks."""
    guard = guard_of(request)
    found = getattr(request.state, "principal", None)
    if found is None:
        found = guard.principal(request) if not guard.enabled else None
        if found is None:
            found = guard.authenticator.authenticate(request.cookies.get(SESSION_COOKIE))
        request.state.principal = found
    return found


def csrf_token(request: Request) -> str:
    """The CSRF field for forms on this page (a new seed cookie is set on the response if needed)."""
    secret = _secret(request)
    if secret is None:
        secret = request.state.csrf_seed = secrets.token_urlsafe(32)
    return csrf_for(secret)


def _same_site(request: Request) -> bool:
    """Refuse what a browser marks as sent from another site (Fetch metadata, else Origin)."""
    if request.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
        return False
    origin = request.headers.get("origin")
    return origin is None or origin == "null" or urlsplit(origin).netloc == request.url.netloc


async def form_of(request: Request) -> dict[str, str]:
    """The url-encoded form of a POST (first value of each field; 64 KiB at most)."""
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise PermissionDenied("form too large")
    return {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True).items()}


def check_mutation(request: Request, form: dict[str, str], role: str, what: str) -> Principal:
    """The principal allowed to do ``what`` through a UI form: same site, a valid CSRF field for this
    session, and the role (a denial is audited by the server's Guard). Export for every UI page
    that offers a mutation (aliases, versions, the loop).

    ``PermissionDenied`` (403) otherwise.
    """
    secret = _secret(request)
    sent = form.get(CSRF_FIELD, "")
    if not _same_site(request):
        raise PermissionDenied("cross-site form refused")
    if secret is None or not hmac.compare_digest(sent.encode(), csrf_for(secret).encode()):
        raise PermissionDenied("missing or invalid CSRF token: reload the page and try again")
    principal(request)
    return guard_of(request).check(request, role, what)


def can(request: Request, role: str) -> bool:
    """Whether the viewer's role reaches ``role`` (pages hide the controls they may not use)."""
    return role_allows(principal(request).role, role)


def page(request: Request, template: str, status_code: int = 200, **context: Any) -> Response:
    """A full page: ``template`` with the viewer, their CSRF field, and a seed cookie when new."""
    who = principal(request)
    token = csrf_token(request)
    response = render(
        request,
        template,
        status_code,
        user=who,
        auth=guard_of(request).enabled,
        csrf=token,
        csrf_field=CSRF_FIELD,
        **context,
    )
    seed = getattr(request.state, "csrf_seed", None)
    if seed is not None and not guard_of(request).enabled:
        _set_cookie(request, response, SEED_COOKIE, seed)
    return response


def _set_cookie(request: Request, response: Response, name: str, value: str) -> None:
    response.set_cookie(
        name,
        value,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )


def _login_redirect(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)


class UIRoute(APIRoute):
    """A UI route: signed in first (with ``--auth``; a missing or invalid session goes to the sign-in
    page), errors are an HTML page with the store's own one-line message (never JSON, no traceback)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        public = self.path == "/login"

        async def handle(request: Request) -> Response:
            try:
                if not public:
                    principal(request)  # every UI route needs a session under --auth (raw artifacts too)
                return await handler(request)
            except Unauthenticated:
                if request.method == "GET":
                    return _login_redirect(request)
                return render(request, "error.html", 401, message="sign in first", user=None)
            except LoopwrightError as error:
                log.info("%s %s → %d %s", request.method, request.url.path, error.http_status, error)
                return render(request, "error.html", error.http_status, message=str(error), user=None)

        return handle


def _safe_next(target: str | None) -> str:
    """Only a local path (``/runs/…``), never ``//evil`` or ``https://…``: no open redirect.

    >>> _safe_next("/runs/abc?x=1"), _safe_next("//evil.example"), _safe_next("https://x"), _safe_next(None)
    ('/runs/abc?x=1', '/', '/', '/')
    """
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def session_router() -> APIRouter:
    """``GET/POST /login`` (paste a token once), ``POST /logout``."""
    router = APIRouter(route_class=UIRoute, include_in_schema=False)

    @router.get("/login")
    def login_form(request: Request, next: str | None = None) -> Response:
        return render(request, "login.html", next=_safe_next(next), error=None, user=None)

    @router.post("/login")
    async def login(request: Request) -> Response:
        form = await form_of(request)
        target = _safe_next(form.get("next"))
        if not _same_site(request):
            raise PermissionDenied("cross-site form refused")
        token = form.get("token", "").strip()
        guard = guard_of(request)
        if not guard.enabled:
            return RedirectResponse(target, status_code=303)
        try:
            who = guard.authenticator.authenticate(token)
        except Unauthenticated as error:
            return render(request, "login.html", 401, next=target, error=str(error), user=None)
        log.info("UI session opened for %r (%s)", who.user, who.role)
        response = RedirectResponse(target, status_code=303)
        _set_cookie(request, response, SESSION_COOKIE, token)
        return response

    @router.post("/logout")
    async def logout(request: Request) -> Response:
        check_mutation(request, await form_of(request), "viewer", "logout")
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    return router
