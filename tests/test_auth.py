"""Tokens and roles: TokenAuthenticator against a real store (SQLite and PostgreSQL), and require."""

from __future__ import annotations

import hmac
import subprocess
import sys
import time

import pytest

from loopwright import auth
from loopwright.auth import (
    Principal,
    TokenAuthenticator,
    generate_token,
    hash_token,
    require,
    role_allows,
)
from loopwright.errors import PermissionDenied, Unauthenticated
from loopwright.store.entities import ROLES, now_ms
from loopwright.store.sql import SqlStore

# the SQL stores (the server authenticates against one; RestStore does not look tokens up)
SQL_STORES = pytest.mark.parametrize("store_uri", ["sqlite", "postgresql"], indirect=True)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_tokens_are_random_and_hashed() -> None:
    tokens = {generate_token() for _ in range(100)}
    assert len(tokens) == 100
    token = tokens.pop()
    assert token.startswith("lw_") and len(token) >= 3 + 43  # 32 bytes in URL-safe base64
    assert hash_token(token) == hash_token(token) and len(hash_token(token)) == 64


def test_auth_needs_no_web_framework() -> None:
    code = "import sys, loopwright.auth; assert not {'fastapi', 'starlette'} & set(sys.modules)"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_role_order() -> None:
    assert ROLES == ("viewer", "editor", "maintainer", "admin")
    for i, have in enumerate(ROLES):
        for j, need in enumerate(ROLES):
            assert role_allows(have, need) is (i >= j)
    assert not role_allows("root", "viewer") and not role_allows("admin", "root")


def test_require_names_the_role_needed() -> None:
    require(Principal("ana", "admin"), "maintainer")
    with pytest.raises(PermissionDenied) as refused:
        require(Principal("ana", "editor", "t1"), "maintainer")
    assert str(refused.value) == "this needs the maintainer role; token of 'ana' has editor"
    assert TokenAuthenticator.require is require


@SQL_STORES
def test_authenticate(store: SqlStore) -> None:
    secret = generate_token()
    token = store.create_token("ana", "editor", hash_token(secret), actor="ops")
    authenticator = TokenAuthenticator(store)
    assert authenticator.authenticate(secret) == Principal("ana", "editor", token.id)
    for missing in (None, ""):
        with pytest.raises(Unauthenticated, match=r"^missing bearer token$"):
            authenticator.authenticate(missing)
    for wrong in ("lw_wrong", secret + "x", secret[:-1], "x" * 10_000):
        with pytest.raises(Unauthenticated, match=r"^invalid or expired token$") as refused:
            authenticator.authenticate(wrong)
        assert wrong not in str(refused.value)


@SQL_STORES
def test_revoked_and_expired_tokens_are_refused(store: SqlStore) -> None:
    clock = Clock()
    authenticator = TokenAuthenticator(store, clock=clock)
    secret = generate_token()
    token = store.create_token("ana", "viewer", hash_token(secret), actor="ops")
    assert authenticator.authenticate(secret).user == "ana"
    store.revoke_token(token.id, actor="ops")
    assert authenticator.authenticate(secret).user == "ana"  # the positive lookup is reused for 1 s
    clock.now += 1.0
    with pytest.raises(Unauthenticated):
        authenticator.authenticate(secret)
    assert authenticator.cached(secret) is None
    # without a cache a revocation takes effect at once
    immediate = TokenAuthenticator(store, cache_seconds=0)
    second = generate_token()
    other = store.create_token("bo", "admin", hash_token(second), actor="ops")
    assert immediate.authenticate(second).role == "admin"
    store.revoke_token(other.id, actor="ops")
    with pytest.raises(Unauthenticated):
        immediate.authenticate(second)

    expired = generate_token()
    store.create_token("cy", "editor", hash_token(expired), actor="ops", expires_ms=now_ms() - 1)
    with pytest.raises(Unauthenticated, match="invalid or expired token"):
        authenticator.authenticate(expired)
    soon = generate_token()
    store.create_token("di", "editor", hash_token(soon), actor="ops", expires_ms=now_ms() + 300)
    assert authenticator.authenticate(soon).user == "di"
    time.sleep(0.35)  # still in the cache's second (the clock stands still), but expiry is checked each call
    with pytest.raises(Unauthenticated):
        authenticator.authenticate(soon)


@SQL_STORES
def test_cached_lookups_compare_in_constant_time(store: SqlStore, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = generate_token()
    store.create_token("ana", "viewer", hash_token(secret), actor="ops")
    authenticator = TokenAuthenticator(store)
    assert authenticator.cached(secret) is None  # never looked up yet: no store access here
    authenticator.authenticate(secret)
    compared: list[tuple[str, str]] = []
    constant_time = hmac.compare_digest

    def compare(a: str, b: str) -> bool:
        compared.append((a, b))
        return constant_time(a, b)

    monkeypatch.setattr(auth.hmac, "compare_digest", compare)
    calls: list[str] = []
    monkeypatch.setattr(store, "find_token", lambda digest: calls.append(digest))  # must not be called
    assert authenticator.authenticate(secret).user == "ana"
    assert compared == [(hash_token(secret), hash_token(secret))] and calls == []


@SQL_STORES
def test_last_used_is_written_at_most_once_a_minute(store: SqlStore, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = Clock()
    secret = generate_token()
    token = store.create_token("ana", "viewer", hash_token(secret), actor="ops")
    authenticator = TokenAuthenticator(store, clock=clock, cache_seconds=0)
    touches: list[str] = []
    touch = store.touch_token
    monkeypatch.setattr(store, "touch_token", lambda i, t: (touches.append(i), touch(i, t)))
    for _ in range(5):
        authenticator.authenticate(secret)
        clock.now += 10
    assert touches == [token.id]
    clock.now += 20
    authenticator.authenticate(secret)
    assert touches == [token.id, token.id]
    found = store.find_token(hash_token(secret))
    assert found is not None and found.last_used is not None
