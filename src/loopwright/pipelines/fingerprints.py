"""Cache keys: a digest of a step's code, its parameters and the digests of its inputs.

The code part covers the step function's source and, transitively, the source of the user
functions it calls (functions whose file lives outside the standard library and site-packages),
so editing a helper reruns the steps that use it while upgrading a library does not. Functions are
named by their module's import name (:func:`import_name`), so ``python wine_pipe.py`` (module
``__main__``) and ``loopwright pipeline run wine_pipe:wine`` share one cache.

Examples
--------
>>> def helper(x):
...     return x * 2
>>> def body(x):
...     return helper(x) + 1
>>> len(source_digest(body))
64
>>> cache_key("abc", {"x": {"$value": 1}}) == cache_key("abc", {"x": {"$value": 1}})
True
>>> cache_key("abc", {"x": {"$value": 1}}) == cache_key("abc", {"x": {"$value": 2}})
False
"""

from __future__ import annotations

import hashlib
import inspect
import os
import sys
import sysconfig
import textwrap
import types
from collections.abc import Callable, Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any

from loopwright.pipelines.materializers import canonical_json

CACHE_KEY_VERSION = 1


def source_digest(fn: Callable[..., Any]) -> str:
    """SHA-256 over the source of ``fn`` and of the user functions it calls, in a stable order."""
    hasher = hashlib.sha256()
    seen: set[int] = set()
    for name, text in _sources(_unwrap(fn), seen):
        hasher.update(name.encode())
        hasher.update(b"\0")
        hasher.update(text.encode())
        hasher.update(b"\0")
    return hasher.hexdigest()


def cache_key(source: str, arguments: Mapping[str, Any], files: Mapping[str, str] | None = None) -> str:
    """The key a step's outputs are cached under.

    ``arguments`` are the encoded arguments with upstream outputs already replaced by their
    blob digests; ``files`` maps argument names that named local files to the files' digests.
    """
    payload = {"v": CACHE_KEY_VERSION, "source": source, "args": arguments, "files": dict(files or {})}
    return hashlib.sha256(canonical_json(payload)).hexdigest()


def import_name(module: str) -> str:
    """The name ``module`` is imported by: ``__main__`` becomes the running script's module name.

    A script run as ``python wine_pipe.py`` defines its functions in ``__main__``; importing the
    same file (``loopwright pipeline run wine_pipe:wine``) names them ``wine_pipe``. Resolved from
    ``__main__.__spec__`` (``python -m pkg.mod``), else from the script's path relative to the
    first ``sys.path`` entry that holds it; ``__main__`` stays when there is no file (a REPL).

    Examples
    --------
    >>> import_name("sklearn.linear_model")
    'sklearn.linear_model'
    """
    if module != "__main__":
        return module
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    if spec is not None and spec.name and spec.name != "__main__":
        return str(spec.name)
    file = getattr(main, "__file__", None)
    if not file:
        return module
    script = Path(file).resolve()
    for entry in sys.path:
        try:
            parts = script.relative_to(Path(entry or os.getcwd()).resolve()).with_suffix("").parts
        except ValueError:
            continue
        if parts and all(part.isidentifier() for part in parts):
            return ".".join(parts)
    return script.stem


def _unwrap(fn: Any) -> Any:
    while hasattr(fn, "__wrapped__"):
        fn = fn.__wrapped__
    return fn


def _sources(fn: Any, seen: set[int]) -> Iterator[tuple[str, str]]:
    if id(fn) in seen or not isinstance(fn, types.FunctionType):
        return
    seen.add(id(fn))
    yield f"{import_name(fn.__module__)}.{fn.__qualname__}", _source_text(fn)
    called = []
    for name in sorted(_global_names(fn.__code__)):
        target = _unwrap(fn.__globals__.get(name))
        if isinstance(target, types.FunctionType) and _is_user_code(target):
            called.append(target)
    for target in called:
        yield from _sources(target, seen)


def _source_text(fn: types.FunctionType) -> str:
    try:
        return textwrap.dedent(inspect.getsource(fn))
    except (OSError, TypeError):
        # no source file (REPL, exec): the bytecode and constants still identify the code
        code = fn.__code__
        return f"{code.co_code.hex()}|{code.co_consts!r}|{code.co_names!r}"


def _global_names(code: types.CodeType) -> set[str]:
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _global_names(const)
    return names


@cache
def _library_roots() -> tuple[str, ...]:
    paths = sysconfig.get_paths()
    roots = {paths[k] for k in ("stdlib", "platstdlib", "purelib", "platlib") if k in paths}
    return tuple(str(Path(r).resolve()) for r in roots)


def _is_user_code(fn: types.FunctionType) -> bool:
    if fn.__module__.split(".")[0] == "loopwright":
        return False  # our own API (lw.log_metric …), not the user's logic
    filename = fn.__code__.co_filename
    if filename.startswith("<"):
        return True  # defined in a REPL or exec'd string: treat as the user's
    if "site-packages" in filename or "dist-packages" in filename:
        return False
    resolved = str(Path(filename).resolve())
    return not resolved.startswith(_library_roots())


__all__ = ["cache_key", "import_name", "source_digest"]
