"""Validation of user-supplied names at the edge: entity names and logical artifact paths.

Examples
--------
>>> validate_name("churn-v2", "model name")
'churn-v2'
>>> validate_name("../etc", "model name")
Traceback (most recent call last):
...
loopwright.errors.InvalidInput: invalid model name '../etc': use 1-128 characters from A-Z a-z 0-9 _ . - (and not only dots)
>>> validate_version("3")
3
>>> validate_artifact_path("plots/roc.png")
'plots/roc.png'
>>> validate_artifact_path("../secret")
Traceback (most recent call last):
...
loopwright.errors.InvalidInput: invalid artifact path '../secret': '..' segments are not allowed
"""

from __future__ import annotations

import numbers
import re

from loopwright.errors import InvalidInput

NAME_PATTERN = re.compile(r"[A-Za-z0-9_.\-]{1,128}")
KEY_PATTERN = re.compile(r"[A-Za-z0-9_.\-/ :]{1,250}")
MAX_ARTIFACT_PATH = 1024


def validate_name(name: object, what: str = "name") -> str:
    """Return ``name`` if it is a valid entity name, else raise :class:`InvalidInput`."""
    if not isinstance(name, str):
        raise InvalidInput(f"{what} must be a string, got {type(name).__name__}")
    if not NAME_PATTERN.fullmatch(name) or set(name) == {"."}:
        raise InvalidInput(
            f"invalid {what} {name!r}: use 1-128 characters from A-Z a-z 0-9 _ . - (and not only dots)"
        )
    return name


def validate_alias(alias: object, what: str = "alias") -> str:
    """Return ``alias`` if it is a valid alias: a name (``champion``) that is not a version number.

    The registry, the gate's ``promote=``/``champion_alias=`` and the loop config all check here,
    so an alias is refused with one message wherever it is given.

    >>> validate_alias("champion")
    'champion'
    >>> validate_alias("3", "promote alias")
    Traceback (most recent call last):
    ...
    loopwright.errors.InvalidInput: invalid promote alias '3': an alias names a role (champion, challenger), not a version number
    """
    validate_name(alias, what)
    assert isinstance(alias, str)
    if alias.isdigit():
        raise InvalidInput(
            f"invalid {what} {alias!r}: an alias names a role (champion, challenger), not a version number"
        )
    return alias


def validate_key(key: object, what: str = "key") -> str:
    """Return a param/metric/tag key if valid: 1-250 chars of letters, digits, ``_ . - / : space``."""
    if not isinstance(key, str):
        raise InvalidInput(f"{what} must be a string, got {type(key).__name__}")
    if not KEY_PATTERN.fullmatch(key) or ".." in key.split("/") or key.startswith("/"):
        raise InvalidInput(
            f"invalid {what} {key!r}: use 1-250 characters from letters, digits, '_', '.', '-', '/', ':', ' '"
        )
    return key


def validate_version(version: object) -> int:
    """Return a model version number (``3`` or ``"3"``) as an int, else raise :class:`InvalidInput`."""
    number = 0
    if isinstance(version, str) and version.strip().isdigit():
        number = int(version.strip())
    elif isinstance(version, numbers.Integral) and not isinstance(version, bool):
        number = int(version)
    if number < 1:
        raise InvalidInput(f"model version must be a positive integer, got {version!r}")
    return number


def validate_artifact_path(path: object) -> str:
    """Return a logical artifact path (``plots/roc.png``) if it stays inside its namespace."""
    if not isinstance(path, str):
        raise InvalidInput(f"artifact path must be a string, got {type(path).__name__}")
    problem = _artifact_path_problem(path)
    if problem:
        raise InvalidInput(f"invalid artifact path {path!r}: {problem}")
    return path


def _artifact_path_problem(path: str) -> str | None:
    if not path:
        return "it is empty"
    if len(path) > MAX_ARTIFACT_PATH:
        return f"longer than {MAX_ARTIFACT_PATH} characters"
    if "\x00" in path:
        return "NUL characters are not allowed"
    if "\\" in path:
        return "backslashes are not allowed; use '/'"
    if path.startswith("/") or re.match(r"^[A-Za-z]:", path):
        return "absolute paths are not allowed; give a name relative to the run"
    parts = path.split("/")
    if ".." in parts:
        return "'..' segments are not allowed"
    if any(p in ("", ".") for p in parts):
        return "empty or '.' segments are not allowed"
    if any(ord(c) < 32 for c in path):
        return "control characters are not allowed"
    return None
