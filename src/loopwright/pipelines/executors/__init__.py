"""Executors run step tasks: ``local`` (in-process, or a process pool for parallel branches) and ``ray``.

The coordinator (:mod:`loopwright.pipelines.runner`) hands an executor every task that is ready at
once and waits for outcomes; the executor decides where each task runs.

Examples
--------
>>> executor = get_executor("local")
>>> executor.label
'local'
>>> executor.close()
>>> get_executor("ray://")
Traceback (most recent call last):
...
loopwright.errors.InvalidInput: Ray address 'ray://' names no host: use 'ray://host:10001' or 'host:6379'
>>> get_executor("spark")
Traceback (most recent call last):
...
loopwright.errors.InvalidInput: unknown executor 'spark': use 'local', 'ray' or a Ray address such as 'ray://host:10001'
"""

from __future__ import annotations

from urllib.parse import urlsplit

from loopwright.config import get_settings
from loopwright.errors import InvalidInput
from loopwright.pipelines.executors.base import Executor
from loopwright.pipelines.executors.local import LocalExecutor


def get_executor(spec: str, address: str | None = None) -> Executor:
    """``local``; ``ray`` (join ``LOOPWRIGHT_RAY_ADDRESS`` / ``RAY_ADDRESS``, else start a local Ray);
    ``ray://host:port`` or ``address=`` (join that cluster)."""
    if not isinstance(spec, str):
        raise InvalidInput(f"executor must be a string, got {type(spec).__name__}")
    if spec == "ray" and address is None:
        address = get_settings().ray_address  # None: ray.init() reads RAY_ADDRESS itself
    if spec == "local" and address is None:
        return LocalExecutor()
    if spec == "ray" or spec.startswith("ray://") or (spec == "local" and address is not None):
        from loopwright.pipelines.executors.ray import RayExecutor

        target = address if address is not None else (spec if spec.startswith("ray://") else None)
        if target is not None and (not isinstance(target, str) or not _host_of(target)):
            raise InvalidInput(f"Ray address {target!r} names no host: use 'ray://host:10001' or 'host:6379'")
        return RayExecutor(target)
    raise InvalidInput(
        f"unknown executor {spec!r}: use 'local', 'ray' or a Ray address such as 'ray://host:10001'"
    )


def _host_of(address: str) -> str | None:
    if address == "auto":
        return address
    return urlsplit(address if "://" in address else f"ray://{address}").hostname


__all__ = ["Executor", "LocalExecutor", "get_executor"]
