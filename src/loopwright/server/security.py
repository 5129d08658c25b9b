"""Who is asking and may they: the request's principal from its bearer token, checked against a role.

Without ``--auth`` every request acts with the admin role as the user its body names (the server
then binds to loopback only). With it, a token issued by ``loopwright tokens create`` decides the
user and role; a denial is 401/403 with one JSON line, logged, and (403) written to the audit log
with the token's user.

Examples
--------
>>> bearer_token("Bearer lw_abc"), bearer_token("bearer lw_abc"), bearer_token("Basic x")
('lw_abc', 'lw_abc', None)
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import Depends
from starlette.requests import Request

from loopwright.auth import Principal, TokenAuthenticator, require
from loopwright.errors import PermissionDenied
from loopwright.store.sql import SqlStore

log = logging.getLogger("loopwright.server")

#: every name or id in a route's path (not an artifact's path): what ``validate_name`` accepts, so a
#: segment no entity could have (``..``, ``%2e%2e%2f`` decoded once, a NUL) is a 422 before any lookup
PATH_SEGMENT = r"^[A-Za-z0-9_.\-]*[A-Za-z0-9_\-][A-Za-z0-9_.\-]*$"
MAX_SEGMENT = 128

#: the principal of a server started without --auth
UNAUTHENTICATED = Principal(user="anonymous", role="admin", token_id=None)


def bearer_token(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer …`` header (the scheme in any case)."""
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


class Guard:
    """Authenticates requests against the store's tokens and enforces route roles."""

    def __init__(self, store: SqlStore, enabled: bool):
        self.store = store
        self.enabled = enabled
        self.authenticator = TokenAuthenticator(store)

    def principal(self, request: Request) -> Principal:
        """The request's principal (cached on the request), or :class:`Unauthenticated`."""
        found = getattr(request.state, "principal", None)
        if found is None:
            if not self.enabled:
                found = UNAUTHENTICATED
            else:
                found = self.authenticator.authenticate(bearer_token(request.headers.get("authorization")))
            request.state.principal = found
        return found

    def check(self, request: Request, role: str, what: str) -> Principal:
        """The principal if its role reaches ``role``; else PermissionDenied, audited."""
        principal = self.principal(request)
        try:
            require(principal, role)
        except PermissionDenied as denial:
            log.warning(
                "denied %s %s to %r (%s): %s", request.method, what, principal.user, principal.role, denial
            )
            self.store.append_event_audit(
                "server",
                what,
                "denied",
                actor=principal.user,
                after={
                    "method": request.method,
                    "path": request.url.path,
                    "needs": role,
                    "has": principal.role,
                },
            )
            raise
        return principal

    def requires(self, role: str, what: str) -> Any:
        """A route dependency doing :meth:`check` before the request's parameters and body are
        validated: without a valid token the answer is 401 whatever the request holds (not a 422
        that tells an unauthenticated caller about the API), below ``role`` it is 403."""

        def dependency(request: Request) -> Principal:
            return self.check(request, role, what)

        return Depends(dependency)
