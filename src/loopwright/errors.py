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
    """Base class of every error Loopwright raises on purpose."""

    http_status = 500


class InvalidInput(LoopwrightError, ValueError):
    """A name, value, payload or argument is malformed or of the wrong type."""

    http_status = 422


class InvalidParameter(InvalidInput, TypeError):
    """A function-like call got an unknown, missing or mistyped parameter (a pipeline's, say).

    Both a :class:`ValueError` (as every :class:`InvalidInput`) and a :class:`TypeError` (as
    Python's own errors for bad arguments), so either ``except`` catches it.
    """


class NotFound(LoopwrightError, LookupError):
    """A named thing (experiment, run, model, version, alias, endpoint) does not exist."""

    http_status = 404


class AlreadyExists(LoopwrightError):
    """A thing with that name exists already."""

    http_status = 409


class Conflict(LoopwrightError):
    """The request is well-formed but clashes with the current state (a closed run, an immutable param)."""

    http_status = 409


class PermissionDenied(LoopwrightError):
    """The caller may not do this (missing token or role, pickle not allowed)."""

    http_status = 403


class Unavailable(LoopwrightError):
    """A service Loopwright stands on (the metadata store, the artifact store) cannot be reached or opened."""

    http_status = 503


class IntegrityError(LoopwrightError):
    """Stored bytes do not match the digest their record promises: tampered or corrupted."""

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
    "Unavailable",
    "UnsignedModelWarning",
]
