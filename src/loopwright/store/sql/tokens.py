"""API tokens in SQL: one ``api_tokens`` row per token, keyed by a SHA-256 hex of its secret.

The secret itself never reaches the store: callers hash it first (``loopwright.auth.hash_token``).
Creating and revoking a token append a registry audit entry (entity ``token``, name = the token's
user, ``after`` = id, role, expiry) in the same transaction; neither the secret nor its hash is in it.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from loopwright.auth import check_role
from loopwright.errors import InvalidInput
from loopwright.names import validate_name
from loopwright.store.entities import ApiToken, Role, ms_to_datetime, now_ms
from loopwright.store.sql.base import SqlBase, unique_prefix_row
from loopwright.store.sql.registry import AUDIT_LOCK_KEY
from loopwright.store.sql.tables import api_tokens, audit_log

_HASH = re.compile(r"[0-9a-f]{64}")


def _token(row: Any) -> ApiToken:
    """The entity of an ``api_tokens`` row mapping (its ``token_hash`` stays behind)."""
    return ApiToken(
        id=row["id"],
        user=row["user"],
        role=row["role"],
        created=ms_to_datetime(row["created_ms"]),  # type: ignore[arg-type]
        created_by=row["created_by"],
        expires=ms_to_datetime(row["expires_ms"]),
        revoked=ms_to_datetime(row["revoked_ms"]),
        last_used=ms_to_datetime(row["last_used_ms"]),
    )


class TokensSql(SqlBase):
    """API-token half of :class:`~loopwright.store.sql.SqlStore`."""

    def _audit_token(self, conn: Connection, token: ApiToken, action: str, actor: str, stamp: int) -> None:
        if not isinstance(actor, str) or not actor:
            raise InvalidInput("every token change needs an actor (who made it)")
        if not self._is_sqlite:  # audit ids and times in one order across writers, as the registry's
            conn.execute(sa.select(sa.func.pg_advisory_xact_lock(AUDIT_LOCK_KEY)))
        expires = None if token.expires is None else token.expires.isoformat()
        after = {"id": token.id, "role": token.role, "expires": expires}
        conn.execute(
            audit_log.insert().values(
                entity="token",
                name=token.user,
                version=None,
                action=action,
                actor=actor[:256],
                time_ms=stamp,
                before_json=None,
                after_json=json.dumps(after, sort_keys=True),
            )
        )

    def create_token(
        self, user: str, role: Role, token_hash: str, *, actor: str, expires_ms: int | None = None
    ) -> ApiToken:
        validate_name(user, "user")
        check_role(role)
        if not isinstance(actor, str) or not actor:
            raise InvalidInput("every token change needs an actor (who made it)")
        if not isinstance(token_hash, str) or not _HASH.fullmatch(token_hash):
            raise InvalidInput("token_hash must be a SHA-256 hex digest (64 lowercase hex characters)")
        if expires_ms is not None and (isinstance(expires_ms, bool) or not isinstance(expires_ms, int)):
            raise InvalidInput(f"expires_ms must be epoch milliseconds, got {expires_ms!r}")
        stamp = now_ms()
        row = {
            "id": uuid.uuid4().hex,
            "user": user,
            "role": role,
            "token_hash": token_hash,
            "created_ms": stamp,
            "created_by": actor[:128],
            "expires_ms": expires_ms,
            "revoked_ms": None,
            "last_used_ms": None,
        }
        with self._write() as conn:
            if conn.execute(sa.select(api_tokens.c.id).where(api_tokens.c.token_hash == token_hash)).first():
                raise InvalidInput("a token with this hash exists already: generate a new secret")
            conn.execute(api_tokens.insert().values(**row))
            token = _token(row)
            self._audit_token(conn, token, "token_created", actor, stamp)
        return token

    def list_tokens(self, include_revoked: bool = False) -> list[ApiToken]:
        query = sa.select(api_tokens).order_by(api_tokens.c.created_ms, api_tokens.c.id)
        if not include_revoked:
            query = query.where(api_tokens.c.revoked_ms.is_(None))
        with self._read() as conn:
            return [_token(row._mapping) for row in conn.execute(query).all()]

    def revoke_token(self, token_id: str, *, actor: str) -> ApiToken:
        if not isinstance(token_id, str):
            raise InvalidInput(f"token id must be a string, got {type(token_id).__name__}")
        with self._write() as conn:
            row = unique_prefix_row(conn, api_tokens, token_id, "token")
            # lock the row so two revocations record one entry (a no-op clause on SQLite)
            row = conn.execute(sa.select(api_tokens).where(api_tokens.c.id == row.id).with_for_update()).one()
            if row.revoked_ms is not None:
                return _token(row._mapping)
            stamp = now_ms()
            conn.execute(api_tokens.update().where(api_tokens.c.id == row.id).values(revoked_ms=stamp))
            token = _token({**row._mapping, "revoked_ms": stamp})
            self._audit_token(conn, token, "token_revoked", actor, stamp)
        return token

    def append_event_audit(
        self, entity: str, name: str, action: str, *, actor: str, after: Any = None
    ) -> None:
        """Audit what is not a registry change: an experiment or run created or deleted through the
        server, or a request it refused (entity ``server``, name = the Store method asked for).

        Unlike :meth:`append_audit` it needs no registered model; it commits on its own, so it never
        claims the request's idempotency key.
        """
        if not isinstance(actor, str) or not actor:
            raise InvalidInput("every audited event needs an actor (who made it)")
        with self.engine.connect() as conn:
            conn.execution_options(loopwright_write=True)
            with conn.begin():
                if not self._is_sqlite:
                    conn.execute(sa.select(sa.func.pg_advisory_xact_lock(AUDIT_LOCK_KEY)))
                conn.execute(
                    audit_log.insert().values(
                        entity=entity[:32],
                        name=name[:128],
                        version=None,
                        action=action[:32],
                        actor=actor[:256],
                        time_ms=now_ms(),
                        before_json=None,
                        after_json=None if after is None else json.dumps(after, sort_keys=True),
                    )
                )

    def find_token(self, token_hash: str) -> ApiToken | None:
        if not isinstance(token_hash, str) or not _HASH.fullmatch(token_hash):
            return None
        with self._read() as conn:
            row = conn.execute(sa.select(api_tokens).where(api_tokens.c.token_hash == token_hash)).first()
        return None if row is None else _token(row._mapping)

    def touch_token(self, token_id: str, time_ms: int) -> None:
        # not self._write(): bookkeeping of the request's authentication must not claim the request's
        # idempotency key, which belongs to its own first write
        with self.engine.connect() as conn:
            conn.execution_options(loopwright_write=True)
            with conn.begin():
                conn.execute(
                    api_tokens.update()
                    .where(
                        api_tokens.c.id == token_id,
                        sa.or_(api_tokens.c.last_used_ms.is_(None), api_tokens.c.last_used_ms < time_ms),
                    )
                    .values(last_used_ms=time_ms)
                )
