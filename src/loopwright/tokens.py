"""API tokens on the environment's store (``lw.create_token``, ``lw.list_tokens``, ``lw.revoke_token``).

A token's secret is returned once, by :func:`create_token`; the store keeps only its SHA-256 hash.
Creating and revoking are audited with the actor of this process (``LOOPWRIGHT_USER``, else the
operating-system user), as registry changes are.

Examples
--------
>>> import loopwright as lw, tempfile, os
>>> os.environ["LOOPWRIGHT_HOME"] = tempfile.mkdtemp()
>>> token, secret = lw.create_token("ana", "editor", expires="30d")
>>> token.role, secret.startswith("lw_")
('editor', True)
>>> [t.user for t in lw.list_tokens()]
['ana']
>>> lw.revoke_token(token.id).revoked is not None, lw.list_tokens()
(True, [])
>>> del os.environ["LOOPWRIGHT_HOME"]; lw.reset_clients()
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from loopwright.auth import check_role, generate_token, hash_token
from loopwright.durations import parse_duration
from loopwright.names import validate_name
from loopwright.registry.actor import current_actor
from loopwright.store import open_store
from loopwright.store.entities import ApiToken, now_ms
from loopwright.store.interface import Store
from loopwright.tracking.client import get_client


@contextmanager
def _store(store_uri: str | None) -> Iterator[Store]:
    """The environment's store, or the one ``store_uri`` names (opened for this call only)."""
    if store_uri is None:
        yield get_client().store
        return
    store = open_store(store_uri)
    try:
        yield store
    finally:
        store.close()


def create_token(
    user: str, role: str, expires: str | timedelta | None = None, *, store_uri: str | None = None
) -> tuple[ApiToken, str]:
    """Issue a token for ``user`` with ``role`` (viewer, editor, maintainer or admin).

    Parameters
    ----------
    user:
        Who the token acts for (the audit log's actor through the server); a name.
    role:
        ``viewer`` reads, ``editor`` also logs and registers, ``maintainer`` also moves aliases and
        drives the loop, ``admin`` also manages tokens.
    expires:
        How long it stays valid (``"30d"``, ``"12h"``, a ``timedelta``); ``None``: until revoked.
    store_uri:
        The store to write to (default: ``LOOPWRIGHT_STORE_URI``'s), e.g. to create the first admin
        token before any server runs.

    Returns
    -------
    tuple[ApiToken, str]
        The record and the secret. The secret is shown only here: keep it.

    Examples
    --------
    >>> import loopwright as lw, tempfile, os
    >>> os.environ["LOOPWRIGHT_HOME"] = tempfile.mkdtemp()
    >>> token, secret = lw.create_token("ci-bot", "viewer", expires="12h")
    >>> token.user, token.expires is not None, len(secret) > 40
    ('ci-bot', True, True)
    >>> lw.create_token("ana", "owner")
    Traceback (most recent call last):
    ...
    loopwright.errors.InvalidInput: unknown role 'owner': use viewer, editor, maintainer or admin
    >>> del os.environ["LOOPWRIGHT_HOME"]; lw.reset_clients()
    """
    validate_name(user, "user")
    checked = check_role(role)
    expires_ms = None if expires is None else now_ms() + parse_duration(expires)
    secret = generate_token()
    with _store(store_uri) as store:
        token = store.create_token(
            user, checked, hash_token(secret), actor=current_actor(), expires_ms=expires_ms
        )
    return token, secret


def list_tokens(include_revoked: bool = False, *, store_uri: str | None = None) -> list[ApiToken]:
    """Tokens, oldest first (never their secrets); revoked ones only with ``include_revoked``.
    ``store_uri``: as for :func:`create_token`.

    Examples
    --------
    >>> import loopwright as lw, tempfile, os
    >>> os.environ["LOOPWRIGHT_HOME"] = tempfile.mkdtemp()
    >>> _ = lw.create_token("ana", "admin")
    >>> [(t.user, t.role) for t in lw.list_tokens()]
    [('ana', 'admin')]
    >>> del os.environ["LOOPWRIGHT_HOME"]; lw.reset_clients()
    """
    with _store(store_uri) as store:
        return store.list_tokens(include_revoked)


def revoke_token(token_id: str, *, store_uri: str | None = None) -> ApiToken:
    """Revoke a token by id (or a unique prefix of 8+ characters, as tables show them); it stops working
    within a second (the time servers reuse a token lookup, see ``loopwright.auth``). Revoking twice
    changes nothing. ``store_uri``: as for :func:`create_token`.

    Examples
    --------
    >>> import loopwright as lw, tempfile, os
    >>> os.environ["LOOPWRIGHT_HOME"] = tempfile.mkdtemp()
    >>> token, _ = lw.create_token("ana", "editor")
    >>> lw.revoke_token(token.id[:8]).id == token.id
    True
    >>> lw.list_tokens(include_revoked=True)[0].active()
    False
    >>> del os.environ["LOOPWRIGHT_HOME"]; lw.reset_clients()
    """
    with _store(store_uri) as store:
        return store.revoke_token(token_id, actor=current_actor())
