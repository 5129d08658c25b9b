"""Pipeline parameters checked against the pipeline function's type hints, and parsed from CLI text.

A hint the checker does not understand (a ``TypeVar``, an unresolvable forward reference, a
protocol) accepts anything: the check catches the plain mistakes (``C="abc"`` for
``C: float``) without second-guessing elaborate typing. Containers are checked by their kind
(``list[int]`` wants a list), not element by element; a ``Path`` may be given as a ``str``. As in
PEP 484, an ``int`` is a ``float``; a ``bool`` is neither.

Examples
--------
>>> def churn(path: str, C: float = 1.0, tags: list[str] | None = None): ...
>>> hints = parameter_hints(churn)
>>> matches(1, hints["C"]), matches("abc", hints["C"]), matches(None, hints["tags"])
(True, False, True)
>>> describe(hints["tags"])
'list[str] | None'
>>> from_text("0.5", hints["C"], "C"), from_text("null", hints["tags"], "tags")
(0.5, None)
>>> from_text("abc", hints["C"], "C")
Traceback (most recent call last):
...
loopwright.errors.InvalidInput: parameter 'C' must be float, got 'abc'
"""

from __future__ import annotations

import inspect
import json
import types
import typing
from collections.abc import Callable
from pathlib import PurePath
from typing import Any

from loopwright.errors import InvalidInput, InvalidParameter

_EMPTY = inspect.Parameter.empty
_NULLS = ("none", "null")


def parameter_hints(fn: Callable[..., Any]) -> dict[str, Any]:
    """Each parameter's type hint, resolved where possible (string annotations included).

    Parameters without a hint, or whose hint cannot be resolved, are left out.
    """
    try:
        hints = typing.get_type_hints(fn)
    except Exception:  # an unresolvable forward reference: fall back to the resolvable ones
        hints = {}
        for name, param in inspect.signature(fn).parameters.items():
            annotation = param.annotation
            if isinstance(annotation, str):
                try:
                    annotation = eval(annotation, getattr(fn, "__globals__", {}))
                except Exception:
                    continue
            if annotation is not _EMPTY:
                hints[name] = annotation
    hints.pop("return", None)
    return hints


def matches(value: Any, hint: Any) -> bool:
    """Whether ``value`` fits ``hint`` (anything fits a hint this checker does not understand)."""
    if hint is Any or hint is object or hint is _EMPTY:
        return True
    if hint is None or hint is type(None):
        return value is None
    origin = typing.get_origin(hint)
    if origin is typing.Union or origin is types.UnionType:
        return any(matches(value, arg) for arg in typing.get_args(hint))
    if origin is typing.Literal:
        return value in typing.get_args(hint)
    if origin is typing.Annotated:
        return matches(value, typing.get_args(hint)[0])
    if origin is not None:
        hint = origin
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if isinstance(hint, type) and issubclass(hint, PurePath):
        return isinstance(value, (str, PurePath))  # a path may be given as text
    if isinstance(hint, type):
        try:
            return isinstance(value, hint)
        except TypeError:  # e.g. a non-runtime-checkable protocol
            return True
    return True


def describe(hint: Any) -> str:
    """``float``, ``list[str] | None``, ``pandas.DataFrame`` …, for error messages."""
    if hint is None or hint is type(None):
        return "None"
    origin = typing.get_origin(hint)
    if origin is typing.Union or origin is types.UnionType:
        return " | ".join(describe(arg) for arg in typing.get_args(hint))
    if isinstance(hint, type) and origin is None:
        module = hint.__module__
        return hint.__qualname__ if module == "builtins" else f"{module.split('.')[0]}.{hint.__qualname__}"
    return str(hint).replace("typing.", "")


def check_value(pipeline: str, name: str, value: Any, hint: Any) -> None:
    """Raise :class:`~loopwright.errors.InvalidParameter` naming the parameter and its expected type if ``value`` does not fit."""
    if not matches(value, hint):
        shown = repr(value)
        shown = shown if len(shown) <= 60 else shown[:57] + "..."
        raise InvalidParameter(
            f"pipeline {pipeline!r}: parameter {name!r} must be {describe(hint)}, "
            f"got {type(value).__name__} {shown}"
        )


def from_text(raw: str, hint: Any, name: str) -> Any:
    """The value ``--param name=raw`` means for a parameter hinted ``hint``.

    ``str`` takes the text as is; ``int``, ``float`` and ``bool`` parse it; a union tries its
    members in order (``none``/``null`` for ``None``); without a hint the text is JSON if it
    parses, else a string. Anything else is parsed as JSON and must then fit the hint.
    """
    value = _parse(raw, hint)
    if value is _INVALID or not matches(value, hint):
        raise InvalidInput(f"parameter {name!r} must be {describe(hint)}, got {raw!r}")
    return value


_INVALID = object()


def _parse(raw: str, hint: Any) -> Any:
    origin = typing.get_origin(hint)
    if origin is typing.Union or origin is types.UnionType:
        args = typing.get_args(hint)
        if raw.lower() in _NULLS and type(None) in args:
            return None
        for arg in args:
            if arg is type(None):
                continue
            value = _parse(raw, arg)
            if value is not _INVALID and matches(value, arg):
                return value
        return _INVALID
    if hint is str:
        return raw
    if hint is int:
        try:
            return int(raw)
        except ValueError:
            return _INVALID
    if hint is float:
        try:
            return float(raw)
        except ValueError:
            return _INVALID
    if hint is bool:
        lowered = raw.lower()
        if lowered in ("true", "1", "yes"):
            return True
        if lowered in ("false", "0", "no"):
            return False
        return _INVALID
    if isinstance(hint, type) and issubclass(hint, PurePath):
        return hint(raw)
    try:
        return json.loads(raw)
    except ValueError:
        return raw


__all__ = ["check_value", "describe", "from_text", "matches", "parameter_hints"]
