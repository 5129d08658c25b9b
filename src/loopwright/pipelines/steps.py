"""``@step``: a plain function that, called inside a ``@pipeline``, becomes a node of the DAG.

Outside a pipeline a step is just its function: ``load("data.csv")`` runs and returns a value, so
steps stay testable on their own.

Examples
--------
>>> from loopwright import step
>>> @step
... def inc(x: int) -> int:
...     return x + 1
>>> inc(1)
2
>>> @step(retries=2, cache=False, resources={"num_cpus": 1})
... def train(x: int, C: float = 1.0) -> float:
...     return x * C
>>> train(2, C=0.5), train.options.retries
(1.0, 2)
"""

from __future__ import annotations

import functools
import inspect
import re
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, overload

from loopwright.errors import InvalidInput
from loopwright.names import validate_name
from loopwright.pipelines.fingerprints import source_digest
from loopwright.pipelines.graph import current_graph

_RESOURCE_KEYS = ("num_cpus", "num_gpus", "memory")
# Ray's own names for the built-in resources, as ``ray start --resources`` and ``ray.nodes()`` spell them
_RAY_NAMES = {"CPU": "num_cpus", "GPU": "num_gpus"}


@dataclass(frozen=True)
class StepOptions:
    """How a step runs: retries with exponential backoff, caching, resources for Ray."""

    name: str
    retries: int = 0
    retry_delay: float = 0.5
    backoff: float = 2.0
    cache: bool = True
    resources: dict[str, float] = field(default_factory=dict)


class Step:
    """A function wrapped by :func:`step`; call it like the function."""

    def __init__(self, fn: Callable[..., Any], options: StepOptions):
        if not callable(fn):
            raise InvalidInput(f"@step needs a function, got {fn!r}")
        functools.update_wrapper(self, fn)
        self.fn = fn
        self.options = options
        self.signature = inspect.signature(fn)
        self.n_outputs = _output_count(fn)
        self._source_digest: str | None = None

    @property
    def name(self) -> str:
        return self.options.name

    def __repr__(self) -> str:
        return f"<step {self.name}>"

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        graph = current_graph()
        if graph is None:
            return self.fn(*args, **kwargs)
        try:
            bound = self.signature.bind(*args, **kwargs)
        except TypeError as exc:
            raise InvalidInput(f"step {self.name!r}: {exc}") from None
        bound.apply_defaults()
        return graph.add(self, dict(bound.arguments))

    def call(self, arguments: Mapping[str, Any]) -> Any:
        """Run the function on arguments bound by parameter name (as a node stores them)."""
        bound = inspect.BoundArguments(self.signature, dict(arguments))
        return self.fn(*bound.args, **bound.kwargs)

    def __reduce__(self) -> tuple[Any, ...]:
        # The module attribute holds this Step, not the bare function, so plain pickle cannot
        # pickle ``fn`` by reference; cloudpickle ships it by value to process-pool and Ray workers.
        return (Step, (self.fn, self.options))

    @property
    def source_digest(self) -> str:
        """Digest of this step's source and the user functions it calls (memoised)."""
        if self._source_digest is None:
            self._source_digest = source_digest(self.fn)
        return self._source_digest


@overload
def step(fn: Callable[..., Any], /) -> Step: ...
@overload
def step(
    *,
    name: str | None = None,
    retries: int = 0,
    retry_delay: float = 0.5,
    backoff: float = 2.0,
    cache: bool = True,
    resources: Mapping[str, float] | None = None,
) -> Callable[[Callable[..., Any]], Step]: ...
def step(
    fn: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    retries: int = 0,
    retry_delay: float = 0.5,
    backoff: float = 2.0,
    cache: bool = True,
    resources: Mapping[str, float] | None = None,
) -> Step | Callable[[Callable[..., Any]], Step]:
    """Make a function a pipeline step; use bare (``@step``) or with options (``@step(retries=2)``).

    Parameters
    ----------
    name:
        Node name in the DAG (default: the function's name); repeated calls get ``name_2``, ``name_3`` ….
    retries:
        Extra attempts after a failure; attempt ``n`` waits ``retry_delay * backoff**(n-1)`` seconds.
    cache:
        ``False`` always runs the step (e.g. it reads a live database).
    resources:
        ``num_cpus`` (or ``CPU``), ``num_gpus`` (or ``GPU``), ``memory`` (bytes) and custom Ray
        resources (``{"CPU": 1, "node_a": 1}`` runs only on a node started with
        ``--resources='{"node_a": 1}'``), given to the Ray task that runs the step.

    Returns
    -------
    Step
        Callable exactly like the function outside a pipeline.

    Examples
    --------
    >>> import loopwright as lw
    >>> @lw.step(retries=2, cache=False)
    ... def scale(x: float, factor: float = 2.0) -> float:
    ...     return x * factor
    >>> scale(1.5), scale.options.retries, scale.options.cache  # called outside a pipeline: plain Python
    (3.0, 2, False)
    """
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise InvalidInput(f"retries must be an integer ≥ 0, got {retries!r}")
    if retry_delay < 0 or backoff < 1:
        raise InvalidInput("retry_delay must be ≥ 0 and backoff ≥ 1")
    checked: dict[str, float] = {}
    for key, value in (resources or {}).items():
        if (
            not isinstance(key, str)
            or isinstance(value, bool)
            or not isinstance(value, (int, float))
            or value < 0
        ):
            raise InvalidInput(f"resource {key!r} must map to a number ≥ 0, got {value!r}")
        canonical = _RAY_NAMES.get(key, key)
        if canonical in checked:
            raise InvalidInput(f"resource {key!r} is given twice (as {canonical!r} too): give it once")
        checked[canonical] = value

    def wrap(function: Callable[..., Any]) -> Step:
        step_name = validate_name(name or getattr(function, "__name__", ""), "step name")
        options = StepOptions(step_name, retries, float(retry_delay), float(backoff), bool(cache), checked)
        return Step(function, options)

    return wrap(fn) if fn is not None else wrap


def ray_options(options: StepOptions) -> dict[str, Any]:
    """The ``ray.remote(...)`` options a step's resources ask for (one CPU by default)."""
    out: dict[str, Any] = {"num_cpus": options.resources.get("num_cpus", 1)}
    if "num_gpus" in options.resources:
        out["num_gpus"] = options.resources["num_gpus"]
    if "memory" in options.resources:
        out["memory"] = options.resources["memory"]
    custom = {k: v for k, v in options.resources.items() if k not in _RESOURCE_KEYS}
    if custom:
        out["resources"] = custom
    return out


def _output_count(fn: Callable[..., Any]) -> int:
    """How many outputs a step has: N for ``-> tuple[A, B, …]`` (fixed length), else 1."""
    annotation = getattr(fn, "__annotations__", {}).get("return")
    if isinstance(annotation, str):
        try:
            annotation = eval(annotation, getattr(fn, "__globals__", {}))
        except Exception:
            return _count_from_text(annotation)
    if typing.get_origin(annotation) is tuple:
        args = typing.get_args(annotation)
        if args and Ellipsis not in args:
            return len(args)
    return 1


def _count_from_text(text: str) -> int:
    match = re.fullmatch(r"\s*(?:typing\.)?[Tt]uple\[(.*)\]\s*", text)
    if not match or "..." in match.group(1):
        return 1
    depth, count = 0, 1
    for char in match.group(1):
        depth += char == "["
        depth -= char == "]"
        count += char == "," and depth == 0
    return count


__all__ = ["Step", "StepOptions", "ray_options", "step"]
