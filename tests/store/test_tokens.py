"""API tokens in the store (SQLite and PostgreSQL): create, list, revoke, find, expiry, hash-only storage."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from loopwright.auth import generate_token, hash_token
from loopwright.errors import InvalidInput, NotFound
from loopwright.store.entities import now_ms
from loopwright.store.sql import SqlStore
from loopwright.store.sql.tables import api_tokens, audit_log, metadata

# the SQL stores: RestStore does not look tokens up or touch them (the server authenticates)
pytestmark = pytest.mark.parametrize("store_uri", ["sqlite", "postgresql"], indirect=True)


def test_create_list_find_revoke(store: SqlStore) -> None:
    secret = generate_token()
    created = store.create_token("ana", "editor", hash_token(secret), actor="ops")
    assert (created.user, created.role, created.created_by) == ("ana", "editor", "ops")
    assert created.active() and created.expires is None and created.revoked is None
    other = store.create_token("bo", "viewer", hash_token(generate_token()), actor="ops")
    assert [t.id for t in store.list_tokens()] == [created.id, other.id]
    assert store.find_token(hash_token(secret)) == created
    assert store.find_token(hash_token("lw_unknown")) is None
    assert store.find_token("not a hash") is None

    revoked = store.revoke_token(created.id[:8], actor="ops")  # a unique prefix, as tables show ids
    assert revoked.id == created.id and revoked.revoked is not None and not revoked.active()
    assert store.revoke_token(created.id, actor="someone") == revoked  # twice: nothing changes
    assert [t.id for t in store.list_tokens()] == [other.id]
    assert [t.id for t in store.list_tokens(include_revoked=True)] == [created.id, other.id]
    found = store.find_token(hash_token(secret))  # found whatever its state: the caller decides
    assert found is not None and found.revoked == revoked.revoked


def test_create_and_revoke_are_audited_without_secret_or_hash(store: SqlStore) -> None:
    secret = generate_token()
    token = store.create_token(
        "ana", "maintainer", hash_token(secret), actor="ops", expires_ms=now_ms() + 60_000
    )
    store.revoke_token(token.id, actor="sec")
    store.revoke_token(token.id, actor="sec")  # a no-op writes no entry
    entries = store.list_audit_log("ana")
    assert [(e.entity, e.action, e.actor) for e in entries] == [
        ("token", "token_created", "ops"),
        ("token", "token_revoked", "sec"),
    ]
    assert token.expires is not None
    assert entries[0].after == {"id": token.id, "role": "maintainer", "expires": token.expires.isoformat()}
    with store.engine.connect() as conn:
        stored = json.dumps([list(map(str, row)) for row in conn.execute(sa.select(audit_log)).all()])
    assert secret not in stored and hash_token(secret) not in stored


def test_expiry_and_last_used(store: SqlStore) -> None:
    past = store.create_token(
        "ana", "viewer", hash_token(generate_token()), actor="ops", expires_ms=now_ms() - 1
    )
    assert not past.active() and past in store.list_tokens()  # expired tokens are listed, not active
    assert past.expires is not None and past.active(int(past.expires.timestamp() * 1000) - 1000)
    store.touch_token(past.id, 1_000)
    store.touch_token(past.id, 500)  # never moves back
    found = store.find_token(store_hash(store, past.id))
    assert found is not None and found.last_used is not None and found.last_used.timestamp() == 1.0


def store_hash(store: SqlStore, token_id: str) -> str:
    with store.engine.connect() as conn:
        return str(
            conn.execute(sa.select(api_tokens.c.token_hash).where(api_tokens.c.id == token_id)).scalar()
        )


def test_refusals(store: SqlStore) -> None:
    digest = hash_token(generate_token())
    with pytest.raises(InvalidInput, match="viewer, editor, maintainer or admin"):
        store.create_token("ana", "owner", digest, actor="ops")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="invalid user"):
        store.create_token("ana/../x", "viewer", digest, actor="ops")
    with pytest.raises(InvalidInput, match="SHA-256"):
        store.create_token("ana", "viewer", "lw_raw_secret_not_a_hash", actor="ops")
    with pytest.raises(InvalidInput, match="actor"):
        store.create_token("ana", "viewer", digest, actor="")
    store.create_token("ana", "viewer", digest, actor="ops")
    with pytest.raises(InvalidInput, match="exists already"):
        store.create_token("bo", "viewer", digest, actor="ops")
    with pytest.raises(NotFound):
        store.revoke_token("0123456789abcdef", actor="ops")
    with pytest.raises(NotFound):
        store.revoke_token("x", actor="ops")


def test_the_secret_is_nowhere_in_the_database(store: SqlStore, store_uri: str) -> None:
    secret = generate_token()
    token = store.create_token("ana", "admin", hash_token(secret), actor="ops")
    store.touch_token(token.id, now_ms())
    store.revoke_token(token.id, actor="ops")
    with store.engine.connect() as conn:
        for table in metadata.sorted_tables:
            dump = json.dumps([list(map(str, row)) for row in conn.execute(sa.select(table)).all()])
            assert secret not in dump, table.name
            assert secret[3:] not in dump, table.name  # not even without its prefix
    if store_uri.startswith("sqlite:///"):
        store.close()
        path = Path(store_uri.removeprefix("sqlite:///"))
        raw = b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))  # with -wal, -shm
        assert secret.encode() not in raw and secret[3:].encode() not in raw
        assert hash_token(secret).encode() in raw  # the hash is what is kept
