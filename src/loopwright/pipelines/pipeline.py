"""``@pipeline``: a plain function whose step calls define a DAG; ``.run()`` executes it, cached and tracked.

Examples
--------
>>> import loopwright as lw, tempfile, os
>>> os.environ["LOOPWRIGHT_HOME"] = tempfile.mkdtemp()
>>> @lw.step
... def double(x: int) -> int:
...     return 2 * x
>>> @lw.step
... def add(a: int, b: int) -> int:
...     return a + b
>>> @lw.pipeline
... def arithmetic(x: int = 1):
...     return add(double(double(x)), x)
>>> result = arithmetic.run(x=3)
>>> result["add"], result.output, list(result.steps)
(15, 15, ['double', 'double_2', 'add'])
>>> arithmetic.run(x=3).cache_hits
['double', 'double_2', 'add']
>>> arithmetic(x=3)      # called directly, the body runs as plain Python
15
>>> del os.environ["LOOPWRIGHT_HOME"]; lw.reset_clients()
"""

from __future__ import annotations

import functools
import importlib
import inspect
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from loopwright.errors import InvalidInput, InvalidParameter, NotFound
from loopwright.names import validate_name
from loopwright.pipelines.fingerprints import import_name
from loopwright.pipelines.graph import Graph, building, current_graph
from loopwright.pipelines.params import check_value, parameter_hints
from loopwright.pipelines.results import PipelineResult
from loopwright.pipelines.runner import Progress, run_pipeline
from loopwright.tracking.client import Client

# keyword arguments of .run() itself; a pipeline may not use them as parameter names
RUN_OPTIONS = ("executor", "address", "cache", "resume", "experiment", "progress", "client")


class Pipeline:
    """A function wrapped by :func:`pipeline`."""

    def __init__(self, fn: Callable[..., Any], name: str | None = None):
        functools.update_wrapper(self, fn)
        self.fn = fn
        self.name = validate_name(name or fn.__name__, "pipeline name")
        self.signature = inspect.signature(fn)
        self.parameters = list(self.signature.parameters)
        self.hints = parameter_hints(fn)
        clash = [p for p in self.parameters if p in RUN_OPTIONS]
        if clash:
            raise InvalidInput(f"pipeline {self.name!r}: parameter names {clash} are reserved by .run()")
        for param in self.signature.parameters.values():
            if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
                raise InvalidInput(f"pipeline {self.name!r}: *args/**kwargs parameters are not supported")

    @property
    def ref(self) -> str:
        """``module:name``, what the CLI imports (a script's ``__main__`` as its module name)."""
        return f"{import_name(self.fn.__module__)}:{self.fn.__qualname__}"

    def __repr__(self) -> str:
        return f"<pipeline {self.name}>"

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        # inside another pipeline's body this inlines the sub-pipeline's steps; outside, plain Python
        return self.fn(*args, **kwargs)

    def bind(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Parameters by name with defaults filled in; unknown or missing ones, or a value that
        does not fit the parameter's type hint, are an error."""
        try:
            bound = self.signature.bind(**params)
        except TypeError as exc:
            raise InvalidParameter(f"pipeline {self.name!r}: {exc} (parameters: {self.parameters})") from None
        for name, value in bound.arguments.items():
            if name in self.hints:
                check_value(self.name, name, value, self.hints[name])
        bound.apply_defaults()
        return dict(bound.arguments)

    def build(self, params: Mapping[str, Any]) -> Graph:
        """The DAG the body builds for these parameters."""
        if current_graph() is not None:
            raise InvalidInput(f"pipeline {self.name!r}: call a pipeline inside another one, not .run() it")
        with building() as graph:
            graph.result = self.fn(**params)
        return graph

    def run(
        self,
        *,
        executor: str = "local",
        address: str | None = None,
        cache: bool = True,
        resume: str | None = None,
        experiment: str | None = None,
        progress: Progress | None = None,
        client: Client | None = None,
        **params: Any,
    ) -> PipelineResult:
        """Run the pipeline: cached steps are reused, the rest run on ``executor``; everything is tracked.

        Parameters
        ----------
        executor:
            ``"local"`` (in-process; a process pool for parallel branches), ``"ray"`` (start or join
            a local Ray) or a Ray address ``"ray://host:10001"``.
        address:
            Ray cluster address to join: ``"head:6379"`` of ``ray start --head``, or ``"ray://…"``
            (same as ``executor="ray://…"``); with ``executor="ray"`` it defaults to
            ``LOOPWRIGHT_RAY_ADDRESS``.
        cache:
            ``False`` runs every step even if an identical run is cached.
        resume:
            A failed pipeline run's id: its successful steps are reused as they were (cache or
            not), the failed one and its downstream run again. Omitted params come from that run.
        experiment:
            Experiment of the pipeline's tracking run; default the active one, else the pipeline's name.
        progress:
            Called with a :class:`~loopwright.pipelines.runner.StepEvent` on every status change.
        client:
            The store and blobs the pipeline run, its steps' runs, outputs and cache live in;
            default: the environment's (``lw.get_client()``).
        **params:
            The pipeline function's parameters.

        Returns
        -------
        PipelineResult
            ``result["train"]`` is a step's output, ``result.run_id`` the pipeline run.

        Raises
        ------
        PipelineFailed
            A step failed after its retries; ``exc.run_id`` can be resumed.
        """
        return run_pipeline(
            self,
            params,
            executor=executor,
            address=address,
            cache=cache,
            resume=resume,
            experiment=experiment,
            progress=progress,
            client=client,
        )


def load_pipeline(ref: str) -> Pipeline:
    """Import ``module:name`` (the current folder on the path) or ``path/file.py:name`` and return
    the :class:`Pipeline` it names (what the CLI and the loop controller take)."""
    if ":" not in ref:
        raise InvalidInput(f"pipeline reference {ref!r} must look like module:name or path/file.py:name")
    target, _, name = ref.rpartition(":")
    if not target or not name:
        raise InvalidInput(f"pipeline reference {ref!r} must look like module:name or path/file.py:name")
    if target.endswith(".py"):
        path = Path(target).resolve()
        if not path.is_file():
            raise NotFound(f"no such file: {target!r}")
        sys.path.insert(0, str(path.parent))
        module = _import(path.stem, target)
    else:
        if str(Path.cwd()) not in sys.path:
            sys.path.insert(0, str(Path.cwd()))
        module = _import(target, target)
    found: Any = module
    for part in name.split("."):
        if not hasattr(found, part):
            raise NotFound(f"{target!r} has no attribute {name!r}")
        found = getattr(found, part)
    if not isinstance(found, Pipeline):
        raise InvalidInput(f"{ref!r} is not a @pipeline (got {type(found).__name__})")
    return found


def _import(module: str, shown: str) -> Any:
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name is not None and module.startswith(exc.name):
            raise NotFound(f"cannot import {shown!r}: no module named {exc.name!r}") from None
        raise InvalidInput(f"importing {shown!r} failed: {type(exc).__name__}: {exc}") from None
    except Exception as exc:
        raise InvalidInput(f"importing {shown!r} failed: {type(exc).__name__}: {exc}") from None


def pipeline(fn: Callable[..., Any] | None = None, /, *, name: str | None = None) -> Any:
    """Make a function a pipeline; ``@pipeline`` or ``@pipeline(name="churn")``.

    The body calls steps; their data flow is the DAG. Use ``.run(**params)`` to execute it.

    Examples
    --------
    >>> import loopwright as lw, tempfile, os
    >>> os.environ["LOOPWRIGHT_HOME"] = tempfile.mkdtemp()
    >>> @lw.step
    ... def square(x: int) -> int:
    ...     return x * x
    >>> @lw.pipeline(name="squares")
    ... def squares(x: int = 2):
    ...     return square(square(x))
    >>> squares.name, squares.run(x=3).output
    ('squares', 81)
    >>> del os.environ["LOOPWRIGHT_HOME"]; lw.reset_clients()
    """
    if fn is not None:
        return Pipeline(fn, name)
    return lambda function: Pipeline(function, name)


__all__ = ["Pipeline", "load_pipeline", "pipeline"]
