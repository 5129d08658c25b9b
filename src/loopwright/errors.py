"""One exception hierarchy for everything Loopwright raises on purpose.

The server maps each subclass to one HTTP status code (see ``http_status``);
the CLI prints the message on one line and exits non-zero.

Examples
--------
>>> from loopwright.errors import NotFound, LoopwrightError
>>> issubclass(NotFound, LoopwrightError)
True
>>> NotFound("run 'abc' not found").http_status
404
"""

from __future__ import annotations


class LoopwrightError(Exception):
    """Base class of every error Loopwright raises on purpose.

    Examples
    --------
    >>> import loopwright as lw
    >>> try:
    ...     lw.load_model("models:/churn")
    ... except lw.LoopwrightError as error:  # one except clause catches every kind
    ...     type(error).__name__, error.http_status
    ('InvalidInput', 422)
    """

    http_status = 500


class InvalidInput(LoopwrightError, ValueError):
    """A name, value, payload or argument is malformed or of the wrong type.

    Examples
    --------
    >>> import loopwright as lw
    >>> try:
    ...     lw.load_model("models:/churn")
    ... except lw.InvalidInput as error:
    ...     isinstance(error, ValueError), error.http_status
    (True, 422)
    """

    http_status = 422


class InvalidParameter(InvalidInput, TypeError):
    """A function-like call got an unknown, missing or mistyped parameter (a pipeline's, say).

    Both a :class:`ValueError` (as every :class:`InvalidInput`) and a :class:`TypeError` (as
    Python's own errors for bad arguments), so either ``except`` catches it.

    Examples
    --------
    >>> import loopwright as lw
    >>> issubclass(lw.InvalidParameter, lw.InvalidInput), issubclass(lw.InvalidParameter, TypeError)
    (True, True)
    """


class NotFound(LoopwrightError, LookupError):
    """A named thing (experiment, run, model, version, alias, endpoint) does not exist.

    Examples
    --------
    >>> import loopwright as lw
    >>> error = lw.NotFound("run 'abc' not found")
    >>> isinstance(error, LookupError), error.http_status
    (True, 404)
    """

    http_status = 404


class AlreadyExists(LoopwrightError):
    """A thing with that name exists already.

    Examples
    --------
    >>> import loopwright as lw
    >>> lw.AlreadyExists("experiment 'churn' exists").http_status
    409
    """

    http_status = 409


class Conflict(LoopwrightError):
    """The request is well-formed but clashes with the current state (a closed run, an immutable param).

    Examples
    --------
    >>> import loopwright as lw
    >>> try:
    ...     lw.log_metric("auc", 0.9)  # no run is active
    ... except lw.Conflict as error:
    ...     str(error)
    'no active run: call lw.start_run() first'
    """

    http_status = 409


class Unauthenticated(LoopwrightError):
    """No credentials, or credentials that are not (or no longer) valid: a missing, unknown, revoked or
    expired token. Being known but not allowed is :class:`PermissionDenied`.

    Examples
    --------
    >>> import loopwright as lw
    >>> lw.Unauthenticated("missing bearer token").http_status
    401
    """

    http_status = 401


class PermissionDenied(LoopwrightError):
    """The caller may not do this (missing token or role, pickle not allowed).

    Examples
    --------
    >>> import loopwright as lw
    >>> lw.PermissionDenied("pickle-based model").http_status
    403
    """

    http_status = 403


class Unavailable(LoopwrightError):
    """A service Loopwright stands on (the metadata store, the artifact store) cannot be reached or opened.

    Examples
    --------
    >>> import loopwright as lw
    >>> lw.Unavailable("cannot reach postgresql+psycopg://lw:***@db/lw").http_status
    503
    """

    http_status = 503


class IntegrityError(LoopwrightError):
    """Stored bytes do not match the digest their record promises: tampered or corrupted.

    Examples
    --------
    >>> import loopwright as lw
    >>> issubclass(lw.IntegrityError, lw.LoopwrightError), lw.IntegrityError("digest mismatch").http_status
    (True, 500)
    """

    http_status = 500


class LoopwrightWarning(UserWarning):
    """Base class of the warnings Loopwright issues; each is also logged as one WARNING line."""


class UnsignedModelWarning(LoopwrightWarning):
    """A model version without a signature is being registered, gated or promoted: serving cannot
    check its requests (a string in a numeric column reaches the model) and OIP metadata lists no inputs."""


__all__ = [
    "AlreadyExists",
    "Conflict",
    "IntegrityError",
    "InvalidInput",
    "InvalidParameter",
    "LoopwrightError",
    "LoopwrightWarning",
    "NotFound",
    "PermissionDenied",
    "Unauthenticated",
    "Unavailable",
    "UnsignedModelWarning",
]
