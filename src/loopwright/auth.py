"""Bearer tokens and roles: who is calling, and whether their role may do what they ask.

A token is ``lw_`` + 43 URL-safe characters (32 random bytes). The store keeps only its SHA-256 hex
(:func:`hash_token`), looked up by :meth:`Store.find_token <loopwright.store.Store.find_token>`.
Roles are ordered ``viewer < editor < maintainer < admin``; each may do what the ones before it may.
The platform server and ``loopwright serve`` both authenticate through :class:`TokenAuthenticator`.

Examples
--------
>>> token = generate_token()
>>> token.startswith("lw_"), len(hash_token(token))
(True, 64)
>>> role_allows("maintainer", "editor"), role_allows("viewer", "editor")
(True, False)
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from loopwright.errors import InvalidInput, LoopwrightError, PermissionDenied, Unauthenticated
from loopwright.store.entities import ROLES, ApiToken, Role, now_ms
from loopwright.store.interface import Store

log = logging.getLogger(__name__)

TOKEN_PREFIX = "lw_"
TOKEN_BYTES = 32
MAX_TOKEN_LENGTH = 512  # longer bearer values are refused before hashing
CACHE_SECONDS = 1.0  # how long a positive lookup is reused: a revoked token stops working within this
TOUCH_SECONDS = 60.0  # ``last_used`` is written at most this often per token
_CACHE_ENTRIES = 10_000  # past this many cached tokens, stale entries are dropped


def generate_token() -> str:
    """A new secret: ``lw_`` + 32 random bytes, URL-safe base64 (shown once; store only its hash).

    >>> a, b = generate_token(), generate_token()
    >>> a != b, len(a) >= 3 + 43
    (True, True)
    """
    return TOKEN_PREFIX + secrets.token_urlsafe(TOKEN_BYTES)


def hash_token(token: str) -> str:
    """The SHA-256 hex of a token: what the store keeps and looks tokens up by.

    >>> hash_token("lw_example")[:16]
    'fc7b2ce547768678'
    """
    return hashlib.sha256(token.encode()).hexdigest()


def role_allows(have: str, need: str) -> bool:
    """Whether role ``have`` may do what needs role ``need`` (``viewer < editor < maintainer < admin``);
    an unknown role allows nothing.

    >>> role_allows("admin", "viewer"), role_allows("editor", "maintainer"), role_allows("root", "viewer")
    (True, False, False)
    """
    return have in ROLES and need in ROLES and ROLES.index(have) >= ROLES.index(need)


def check_role(role: object) -> Role:
    """``role`` if it is one of :data:`~loopwright.store.entities.ROLES`, else ``InvalidInput`` naming them.

    >>> check_role("editor")
    'editor'
    >>> check_role("owner")
    Traceback (most recent call last):
    ...
    loopwright.errors.InvalidInput: unknown role 'owner': use viewer, editor, maintainer or admin
    """
    if role not in ROLES:
        raise InvalidInput(f"unknown role {role!r}: use {', '.join(ROLES[:-1])} or {ROLES[-1]}")
    return role  # type: ignore[return-value]


@dataclass(frozen=True)
class Principal:
    """Who a request acts for: a user with a role, and the store token that proved it (``None`` for a
    fixed token such as ``LOOPWRIGHT_ADMIN_TOKEN``).

    >>> Principal("ana", "editor", "3f9a0c12").user
    'ana'
    """

    user: str
    role: Role
    token_id: str | None = None


def require(principal: Principal, need: str) -> None:
    """``PermissionDenied`` (one line naming the role needed) unless the principal's role allows ``need``.

    >>> require(Principal("ana", "maintainer"), "editor")
    >>> require(Principal("ana", "editor"), "maintainer")
    Traceback (most recent call last):
    ...
    loopwright.errors.PermissionDenied: this needs the maintainer role; token of 'ana' has editor
    """
    if not role_allows(principal.role, need):
        raise PermissionDenied(
            f"this needs the {need} role; token of {principal.user!r} has {principal.role}"
        )


class TokenAuthenticator:
    """Turns a bearer token into a :class:`Principal` by its hash in the store.

    A positive lookup is reused for ``cache_seconds`` (default 1 s) per token hash, so a revoked token
    stops working **within one second** (``cache_seconds=0``: at once, one store read per call);
    expiry is checked on every call. Unknown tokens are never cached. ``last_used`` is written at most
    once a minute per token; a failed write is logged, never a refusal.

    The store finds the token by the SHA-256 of the bearer value, so a timing difference in that lookup
    tells a caller nothing about any stored token (a caller cannot steer the hash byte by byte); a
    cached entry's hash is checked with :func:`hmac.compare_digest` too. Error messages never contain
    the token.

    Examples
    --------
    >>> import tempfile
    >>> from loopwright.store import open_store
    >>> store = open_store(f"sqlite:///{tempfile.mkdtemp()}/lw.db")
    >>> secret = generate_token()
    >>> record = store.create_token("ana", "editor", hash_token(secret), actor="ops")
    >>> auth = TokenAuthenticator(store)
    >>> auth.authenticate(secret)
    Principal(user='ana', role='editor', token_id='...')
    >>> auth.authenticate("lw_nope")
    Traceback (most recent call last):
    ...
    loopwright.errors.Unauthenticated: invalid or expired token
    >>> store.close()
    """

    def __init__(
        self,
        store: Store,
        *,
        cache_seconds: float = CACHE_SECONDS,
        touch_seconds: float = TOUCH_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.store = store
        self.cache_seconds = cache_seconds
        self.touch_seconds = touch_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[float, str, ApiToken]] = {}  # hash → (when looked up, hash, token)
        self._touched: dict[str, float] = {}  # token id → when last_used was last written

    def cached(self, token: str | None) -> Principal | None:
        """The principal of a token found in the store less than ``cache_seconds`` ago and still active,
        without touching the store (``None``: ask :meth:`authenticate`). For an event loop's hot path.

        >>> TokenAuthenticator(None).cached("lw_never_seen") is None  # type: ignore[arg-type]
        True
        """
        if not token or len(token) > MAX_TOKEN_LENGTH:
            return None
        digest = hash_token(token)
        with self._lock:
            entry = self._cache.get(digest)
        if entry is None or self._clock() - entry[0] >= self.cache_seconds:
            return None
        _, stored, record = entry
        if not hmac.compare_digest(stored, digest) or not record.active(now_ms()):
            return None
        return self._principal(record)

    def authenticate(self, token: str | None) -> Principal:
        """The principal of an active store token; ``Unauthenticated`` for a missing, unknown, revoked
        or expired one ("missing bearer token" / "invalid or expired token")."""
        if not token:
            raise Unauthenticated("missing bearer token")
        found = self.cached(token)
        if found is not None:
            return found
        if len(token) > MAX_TOKEN_LENGTH:
            raise Unauthenticated("invalid or expired token")
        digest = hash_token(token)
        record = self.store.identify_token(token)
        if record is None or not record.active(now_ms()):
            with self._lock:
                self._cache.pop(digest, None)
            raise Unauthenticated("invalid or expired token")
        with self._lock:
            if len(self._cache) >= _CACHE_ENTRIES:
                self._drop_stale()
            self._cache[digest] = (self._clock(), digest, record)
        return self._principal(record)

    require = staticmethod(require)

    def _principal(self, record: ApiToken) -> Principal:
        self._touch(record.id)
        return Principal(record.user, record.role, record.id)

    def _touch(self, token_id: str) -> None:
        now = self._clock()
        with self._lock:
            last = self._touched.get(token_id)
            if last is not None and now - last < self.touch_seconds:
                return
            self._touched[token_id] = now
        try:
            self.store.touch_token(token_id, now_ms())
        except LoopwrightError as error:  # bookkeeping: a store hiccup must not refuse the request
            log.warning("could not record the use of token %s: %s", token_id, error)

    def _drop_stale(self) -> None:
        now = self._clock()
        self._cache = {k: v for k, v in self._cache.items() if now - v[0] < self.cache_seconds}
        self._touched = {k: v for k, v in self._touched.items() if now - v < self.touch_seconds}
