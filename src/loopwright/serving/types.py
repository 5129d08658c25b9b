"""Shared type aliases of the serving package: ASGI callables and the model shape it serves.

The server only needs a few attributes of a loaded model and its signature, so it names them as
protocols here; :class:`loopwright.models.LoadedModel` satisfies them, and so does any object a
user mounts with the same attributes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Protocol

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class SignatureLike(Protocol):
    """What a model accepts: ``kind`` is ``"dataframe"`` (``inputs`` = columns) or ``"tensor"``."""

    kind: str
    inputs: Any

    def validate(self, data: Any) -> Any: ...


class ModelLike(Protocol):
    """A loaded model as the server uses it (``loopwright.models.LoadedModel`` fits)."""

    @property
    def signature(self) -> Any: ...  # a SignatureLike, or None

    @property
    def has_proba(self) -> bool: ...

    def predict(self, data: Any, validate: bool = True) -> Any: ...

    def predict_proba(self, data: Any, validate: bool = True) -> Any: ...

    def warm_up(self) -> None: ...
