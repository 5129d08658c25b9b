"""Materialisers: how a step's output becomes bytes in the blob store and back, chosen by type.

Built in: pandas DataFrame/Series and polars DataFrame → Parquet, numpy arrays and scalars →
``.npy`` (no pickle), and JSON-able values (None, bool, int, float, str, lists, tuples, str-keyed
dicts) → JSON. A container holding something JSON cannot (a ``numpy.int64`` in a dict, say) is
an error naming where that value is.
Models are not bytes but model packages (see :mod:`loopwright.pipelines.values`). Anything else
is an error that names the type and shows how to register your own.

Every built-in writes the same bytes for the same value, so equal outputs have equal digests
and downstream steps stay cached.

Examples
--------
>>> import numpy as np
>>> m = materializer_for(np.arange(3))
>>> m.name, m.ext
('numpy', 'npy')
>>> m.loads(m.dumps(np.arange(3))).tolist()
[0, 1, 2]
>>> materializer_for({"auc": 0.9}).name
'json'
>>> materializer_for(np.int64(3)).name
'numpy.scalar'
>>> materializer_for({"n": [1, np.int64(3)]})
Traceback (most recent call last):
...
loopwright.errors.InvalidInput: cannot materialise a dict as JSON: the value['n'][1] is a numpy.int64 (np.int64(3)); convert it to a plain value (int(x), float(x), x.tolist(), str(x)) or return it on its own
>>> class Thing: ...
>>> materializer_for(Thing())
Traceback (most recent call last):
...
loopwright.errors.InvalidInput: cannot materialise a Thing (loopwright.pipelines.materializers.Thing): register a materialiser with lw.register_materializer(Thing, save=lambda value, path: ..., load=lambda path: ..., ext="bin")
"""

from __future__ import annotations

import io
import json
import math
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loopwright.errors import InvalidInput


@dataclass(frozen=True)
class Materializer:
    """Turns values of some type into bytes (``dumps``) and back (``loads``).

    ``matches`` says whether a value is handled; ``ext`` is the artifact file extension.
    """

    name: str
    ext: str
    matches: Callable[[Any], bool]
    dumps: Callable[[Any], bytes]
    loads: Callable[[bytes], Any]


_lock = threading.Lock()
_user: list[Materializer] = []


def register_materializer(
    type_: type,
    save: Callable[[Any, Path], None],
    load: Callable[[Path], Any],
    ext: str = "bin",
    name: str | None = None,
) -> Materializer:
    """Teach pipelines to store step outputs of ``type_`` (and its subclasses).

    Registered materialisers win over the built-ins; the newest registration for a type wins.
    Register at import time of the module that defines your steps, so process-pool and Ray
    workers (which import that module) know it too.

    Parameters
    ----------
    type_:
        The output type.
    save:
        ``save(value, path)`` writes the value to a local file.
    load:
        ``load(path)`` reads it back.
    ext:
        File extension of the stored artifact (``outputs/<step>.<ext>``).
    name:
        Identifier recorded with each output; defaults to the type's qualified name.

    Returns
    -------
    Materializer

    Examples
    --------
    >>> import loopwright as lw
    >>> class Vocab:
    ...     def __init__(self, words): self.words = words
    >>> m = lw.register_materializer(
    ...     Vocab,
    ...     save=lambda v, path: path.write_text("\\n".join(v.words)),
    ...     load=lambda path: Vocab(path.read_text().split("\\n")),
    ...     ext="txt",
    ... )
    >>> materializer_for(Vocab(["a", "b"])).loads(m.dumps(Vocab(["a", "b"]))).words
    ['a', 'b']
    >>> unregister_materializer(m)
    """
    if not isinstance(type_, type):
        raise InvalidInput(f"register_materializer needs a type, got {type_!r}")
    if not callable(save) or not callable(load):
        raise InvalidInput("register_materializer needs callables save(value, path) and load(path)")
    ext = ext.lstrip(".")
    if not ext or "/" in ext:
        raise InvalidInput(f"invalid materialiser extension {ext!r}")

    def dumps(value: Any) -> bytes:
        with tempfile.TemporaryDirectory(prefix="loopwright-mat-") as folder:
            path = Path(folder) / f"value.{ext}"
            save(value, path)
            return path.read_bytes()

    def loads(data: bytes) -> Any:
        with tempfile.TemporaryDirectory(prefix="loopwright-mat-") as folder:
            path = Path(folder) / f"value.{ext}"
            path.write_bytes(data)
            return load(path)

    materializer = Materializer(
        name=name or f"{type_.__module__}.{type_.__qualname__}",
        ext=ext,
        matches=lambda value: isinstance(value, type_),
        dumps=dumps,
        loads=loads,
    )
    with _lock:
        _user.insert(0, materializer)
    return materializer


def unregister_materializer(materializer: Materializer) -> None:
    """Forget a materialiser :func:`register_materializer` returned."""
    with _lock:
        if materializer in _user:
            _user.remove(materializer)


def registered_materializers() -> list[Materializer]:
    """The user-registered materialisers, newest first."""
    with _lock:
        return list(_user)


def adopt_materializers(materializers: list[Materializer]) -> None:
    """Register materialisers shipped from the coordinator that this worker does not know by name."""
    with _lock:
        known = {m.name for m in _user}
        for materializer in reversed(materializers):
            if materializer.name not in known:
                _user.insert(0, materializer)


def materializer_for(value: Any) -> Materializer:
    """The materialiser that stores ``value``; :class:`InvalidInput` if none does."""
    for materializer in (*_user, *_BUILTINS):
        if materializer.matches(value):
            return materializer
    kind = type(value)
    leaf = _first_unjsonable(value) if isinstance(value, (list, tuple, dict)) else None
    if leaf is not None:
        where, item = leaf
        inner = type(item)
        raise InvalidInput(
            f"cannot materialise a {kind.__name__} as JSON: {where} is a {inner.__module__}."
            f"{inner.__qualname__} ({item!r:.40}); convert it to a plain value (int(x), float(x), "
            "x.tolist(), str(x)) or return it on its own"
        )
    raise InvalidInput(
        f"cannot materialise a {kind.__name__} ({kind.__module__}.{kind.__qualname__}): register a "
        f"materialiser with lw.register_materializer({kind.__name__}, save=lambda value, path: ..., "
        'load=lambda path: ..., ext="bin")'
    )


def _first_unjsonable(value: Any, where: str = "the value") -> tuple[str, Any] | None:
    """Where inside a list/tuple/dict the first value JSON cannot hold is, and that value."""
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                return f"{where} key {key!r}", key
            found = _first_unjsonable(item, f"{where}[{key!r}]")
            if found is not None:
                return found
        return None
    if isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            found = _first_unjsonable(item, f"{where}[{index}]")
            if found is not None:
                return found
        return None
    return None if is_jsonable(value) else (where, value)


def get_materializer(name: str) -> Materializer:
    """A materialiser by the name recorded with an output."""
    for materializer in (*_user, *_BUILTINS):
        if materializer.name == name:
            return materializer
    raise InvalidInput(
        f"no materialiser named {name!r} is registered in this process; import the module that "
        "registers it (lw.register_materializer) before loading this output"
    )


# -- JSON ----------------------------------------------------------------------------------------
def is_jsonable(value: Any, _depth: int = 0) -> bool:
    """Whether ``value`` survives canonical JSON (finite floats, str keys, ≤ 64 levels deep)."""
    if value is None or isinstance(value, (bool, int, str)):
        return True
    if isinstance(value, float):
        return math.isfinite(value)
    if _depth > 64:
        return False
    if isinstance(value, (list, tuple)):
        return all(is_jsonable(v, _depth + 1) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and is_jsonable(v, _depth + 1) for k, v in value.items())
    return False


def canonical_json(value: Any) -> bytes:
    """Sorted keys, no spaces: the same value always gives the same bytes."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()


_JSON = Materializer("json", "json", is_jsonable, canonical_json, json.loads)


# -- pandas / polars -----------------------------------------------------------------------------
def _is_pandas(value: Any) -> bool:
    return type(value).__module__.startswith("pandas") and type(value).__name__ == "DataFrame"


def _is_series(value: Any) -> bool:
    return type(value).__module__.startswith("pandas") and type(value).__name__ == "Series"


def _pandas_dumps(value: Any) -> bytes:
    buffer = io.BytesIO()
    value.to_parquet(buffer, compression="zstd")
    return buffer.getvalue()


def _pandas_loads(data: bytes) -> Any:
    import pandas as pd

    return pd.read_parquet(io.BytesIO(data))


def _series_dumps(value: Any) -> bytes:
    return _pandas_dumps(value.to_frame())


def _series_loads(data: bytes) -> Any:
    return _pandas_loads(data).iloc[:, 0]


def _is_polars(value: Any) -> bool:
    return type(value).__module__.startswith("polars") and type(value).__name__ == "DataFrame"


def _polars_dumps(value: Any) -> bytes:
    buffer = io.BytesIO()
    value.write_parquet(buffer, compression="zstd", statistics=False)
    return buffer.getvalue()


def _polars_loads(data: bytes) -> Any:
    import polars as pl

    return pl.read_parquet(io.BytesIO(data))


# -- numpy ---------------------------------------------------------------------------------------
def _is_numpy(value: Any) -> bool:
    if type(value).__module__ != "numpy":
        return False
    import numpy as np

    return isinstance(value, np.ndarray) and value.dtype != object


def _is_numpy_scalar(value: Any) -> bool:
    if type(value).__module__ != "numpy":
        return False
    import numpy as np

    return isinstance(value, np.generic) and value.dtype != object


def _numpy_scalar_dumps(value: Any) -> bytes:
    import numpy as np

    return _numpy_dumps(np.asarray(value))


def _numpy_scalar_loads(data: bytes) -> Any:
    return _numpy_loads(data)[()]


def _numpy_dumps(value: Any) -> bytes:
    import numpy as np

    buffer = io.BytesIO()
    np.save(buffer, value, allow_pickle=False)
    return buffer.getvalue()


def _numpy_loads(data: bytes) -> Any:
    import numpy as np

    return np.load(io.BytesIO(data), allow_pickle=False)


_BUILTINS: tuple[Materializer, ...] = (
    Materializer("pandas", "parquet", _is_pandas, _pandas_dumps, _pandas_loads),
    Materializer("pandas.series", "parquet", _is_series, _series_dumps, _series_loads),
    Materializer("polars", "parquet", _is_polars, _polars_dumps, _polars_loads),
    Materializer("numpy", "npy", _is_numpy, _numpy_dumps, _numpy_loads),
    Materializer("numpy.scalar", "npy", _is_numpy_scalar, _numpy_scalar_dumps, _numpy_scalar_loads),
    _JSON,
)

__all__ = [
    "Materializer",
    "canonical_json",
    "get_materializer",
    "is_jsonable",
    "materializer_for",
    "register_materializer",
    "unregister_materializer",
]
