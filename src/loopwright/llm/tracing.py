"""Tracing: ``@lw.trace`` and ``with lw.span(...)`` record an LLM app's steps as one tree per request.

A span opened while another is open becomes its child (``contextvars``: the same across ``await``,
in tasks started from a span, and in generators, whose steps run inside their span); the outermost
span is the trace's root. When the root ends, the trace and all its spans are queued and a
background thread writes them in batches (``Store.log_traces``), as metrics are; nothing is written
on the caller's path. A trace links to the run that was active when it started, and to the prompt
version (``PromptVersion.format`` inside a span records it) and model it used.

Inputs and outputs are kept as JSON, each string cut at ``max_chars`` and each collection at
``max_items``, then passed through the redactors: by default values under secret-looking keys
(``api_key``, ``password``, ``token`` …) and bearer/API-key-shaped strings become ``[REDACTED]``;
:func:`configure_tracing` adds your own (PII, say).

Examples
--------
>>> import tempfile
>>> from loopwright.tracking.client import Client
>>> home = tempfile.mkdtemp()
>>> client = Client(f"sqlite:///{home}/lw.db", f"{home}/artifacts")
>>> @trace(kind="tool")
... def lookup(city: str) -> str:
...     return f"sunny in {city}"
>>> @trace(name="agent", kind="agent", client=client)
... def agent(question: str) -> str:
...     with span("plan", kind="chain") as step:
...         step.set_attribute("steps", 1)
...     return lookup("Paris")
>>> agent("weather?")
'sunny in Paris'
>>> flush_traces()
>>> found = client.store.get_trace(client.store.search_traces()[0].id)
>>> [(s.name, s.kind) for s in found.spans]
[('agent', 'agent'), ('plan', 'chain'), ('lookup', 'tool')]
>>> found.spans[0].attributes["inputs"], found.spans[0].attributes["outputs"]
({'question': 'weather?'}, 'sunny in Paris')
>>> client.close()
"""

from __future__ import annotations

import atexit
import functools
import inspect
import logging
import re
import secrets
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar, overload

from loopwright.errors import InvalidInput
from loopwright.store.entities import SPAN_KINDS, SpanStatus, Trace, TraceSpan
from loopwright.tracking.client import _reset_hooks, get_client

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])
Redactor = Callable[[str, Any], Any]

_SECRET_KEY = re.compile(r"(api[_-]?key|password|passwd|secret|token|authorization|credential)", re.I)
_SECRET_TEXT = re.compile(r"(Bearer\s+[A-Za-z0-9._\-]{8,}|\bsk-[A-Za-z0-9_\-]{16,}|\blw_[A-Za-z0-9_\-]{20,})")
REDACTED = "[REDACTED]"


def redact_secrets(key: str, value: Any) -> Any:
    """The default redactor: a value under a secret-looking key, or a secret-shaped string, is hidden.

    >>> redact_secrets("api_key", "abc"), redact_secrets("q", "use Bearer abcdefghijk please")
    ('[REDACTED]', 'use [REDACTED] please')
    """
    if _SECRET_KEY.search(key):
        return REDACTED
    if isinstance(value, str):
        return _SECRET_TEXT.sub(REDACTED, value)
    return value


class _Config:
    def __init__(self) -> None:
        self.enabled = True
        self.max_chars = 10_000
        self.max_items = 100
        self.redactors: list[Redactor] = [redact_secrets]


_config = _Config()


def configure_tracing(
    *,
    enabled: bool | None = None,
    max_chars: int | None = None,
    max_items: int | None = None,
    redactors: list[Redactor] | None = None,
) -> None:
    """Turn tracing on or off, set the size caps, or add redactors (``fn(key, value) -> value``,
    applied after the default secret redactor, to every input/output/attribute value).

    >>> configure_tracing(redactors=[lambda key, value: "[EMAIL]" if key == "email" else value])
    >>> _clean({"email": "ada@example.com", "password": "x"})
    {'email': '[EMAIL]', 'password': '[REDACTED]'}
    >>> configure_tracing(redactors=[])  # back to the default redactor only
    """
    if enabled is not None:
        _config.enabled = enabled
    if max_chars is not None:
        _config.max_chars = max_chars
    if max_items is not None:
        _config.max_items = max_items
    if redactors is not None:
        _config.redactors = [redact_secrets, *redactors]


def _clean(value: Any, key: str = "", depth: int = 0) -> Any:
    """``value`` as size-capped, redacted JSON."""
    for redactor in _config.redactors:
        value = redactor(key, value)
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        if len(value) > _config.max_chars:
            return value[: _config.max_chars] + f"…[{len(value) - _config.max_chars} more characters]"
        return value
    if depth > 6:
        return _clean(repr(value), key, depth)
    if isinstance(value, Mapping):
        items = list(value.items())[: _config.max_items]
        return {str(k): _clean(v, str(k), depth + 1) for k, v in items}
    if isinstance(value, list | tuple | set | frozenset):
        return [_clean(v, key, depth + 1) for v in list(value)[: _config.max_items]]
    if hasattr(value, "model_dump"):  # pydantic objects (OpenAI responses, say)
        return _clean(value.model_dump(), key, depth + 1)
    return _clean(repr(value), key, depth)


class _TraceState:
    """What a trace gathers while its spans run."""

    def __init__(self, name: str, client: Any) -> None:
        self.id = secrets.token_hex(16)
        self.name = name
        self.client = client
        self.spans: list[Span] = []
        self.run_id: str | None = None
        self.prompt: str | None = None
        self.model: str | None = None
        self.lock = threading.Lock()


class Span:
    """A span being recorded: set what it saw with its methods; it ends when its block does."""

    __slots__ = (
        "_trace",
        "attributes",
        "end_ns",
        "error",
        "events",
        "kind",
        "name",
        "parent_id",
        "span_id",
        "start_ns",
        "status",
    )

    def __init__(self, trace: _TraceState, parent_id: str | None, name: str, kind: str):
        self._trace = trace
        self.span_id = secrets.token_hex(8)
        self.parent_id = parent_id
        self.name = name
        self.kind = kind
        self.start_ns = time.time_ns()
        self.end_ns: int | None = None
        self.status = "ok"
        self.error: str | None = None
        self.attributes: dict[str, Any] = {}
        self.events: list[dict[str, Any]] = []

    @property
    def trace_id(self) -> str:
        return self._trace.id

    def set_inputs(self, value: Any) -> None:
        self.attributes["inputs"] = _clean(value, "inputs")

    def set_outputs(self, value: Any) -> None:
        self.attributes["outputs"] = _clean(value, "outputs")
        _usage_from(self, value)

    def set_attribute(self, key: str, value: Any) -> None:
        self.attributes[key] = _clean(value, key)

    def set_attributes(self, values: Mapping[str, Any]) -> None:
        for key, value in values.items():
            self.set_attribute(key, value)

    def set_usage(
        self, input_tokens: int | None = None, output_tokens: int | None = None, cost: float | None = None
    ) -> None:
        """Token counts and cost of the call this span made (summed into the trace)."""
        for key, value in (("input_tokens", input_tokens), ("output_tokens", output_tokens), ("cost", cost)):
            if value is not None:
                self.attributes[key] = value

    def set_model(self, model: str) -> None:
        """The model this span called (a name, or ``models:/NAME/VERSION``); the trace links to it."""
        self.attributes["model"] = str(model)
        self._trace.model = self._trace.model or str(model).removeprefix("models:/")

    def set_prompt(self, uri: str) -> None:
        """The prompt version this span rendered (``prompts:/NAME/VERSION``); the trace links to it."""
        self.attributes["prompt"] = uri
        self._trace.prompt = self._trace.prompt or uri.removeprefix("prompts:/")

    def add_event(self, name: str, attributes: Mapping[str, Any] | None = None) -> None:
        self.events.append(
            {"name": name, "time_us": time.time_ns() // 1000, **_clean(dict(attributes or {}))}
        )

    def record_error(self, error: BaseException) -> None:
        self.status = "error"
        self.error = f"{type(error).__name__}: {error}"[: _config.max_chars]

    def record(self) -> TraceSpan:
        return TraceSpan(
            trace_id=self._trace.id,
            span_id=self.span_id,
            parent_id=self.parent_id,
            name=self.name,
            kind=self.kind,  # type: ignore[arg-type]
            status=self.status,  # type: ignore[arg-type]
            start_us=self.start_ns // 1000,
            end_us=None if self.end_ns is None else self.end_ns // 1000,
            attributes=self.attributes,
            events=self.events,
            error=self.error,
        )


def _usage_from(span: Span, value: Any) -> None:
    """Token counts an OpenAI-style answer reports (``usage.prompt_tokens`` …), when it does."""
    usage = value.get("usage") if isinstance(value, Mapping) else getattr(value, "usage", None)
    if usage is None:
        return
    get = usage.get if isinstance(usage, Mapping) else lambda key: getattr(usage, key, None)
    inputs = get("prompt_tokens") or get("input_tokens")
    outputs = get("completion_tokens") or get("output_tokens")
    if isinstance(inputs, int) or isinstance(outputs, int):
        span.set_usage(inputs, outputs, get("cost"))


_current: ContextVar[Span | None] = ContextVar("loopwright_span", default=None)


def current_span() -> Span | None:
    """The span open in this context, if any (``PromptVersion.format`` records itself on it)."""
    return _current.get()


def _open(name: str, kind: str, client: Any) -> Span:
    if kind not in SPAN_KINDS:
        raise InvalidInput(f"unknown span kind {kind!r}: use one of {', '.join(SPAN_KINDS)}")
    parent = _current.get()
    if parent is None:
        state = _TraceState(name, client)
        from loopwright.tracking.fluent import active_run

        run = active_run()
        state.run_id = run.id if run is not None else None
    else:
        state = parent._trace
    opened = Span(state, None if parent is None else parent.span_id, name, kind)
    with state.lock:
        state.spans.append(opened)
    return opened


def _close(opened: Span) -> None:
    opened.end_ns = time.time_ns()
    if opened.parent_id is None:
        _buffer.add(opened._trace, opened)


@contextmanager
def span(
    name: str, kind: str = "chain", attributes: Mapping[str, Any] | None = None, *, client: Any = None
) -> Iterator[Span]:
    """Record the block as a span (a child of the open one, or a new trace's root).

    >>> with span("retrieve", kind="retriever", attributes={"k": 3}) as s:
    ...     s.set_outputs(["doc-1", "doc-2"])
    >>> s.attributes
    {'k': 3, 'outputs': ['doc-1', 'doc-2']}
    """
    if not _config.enabled:
        yield Span(_TraceState(name, client), None, name, kind)
        return
    opened = _open(name, kind, client)
    if attributes:
        opened.set_attributes(attributes)
    token = _current.set(opened)
    try:
        yield opened
    except BaseException as error:
        opened.record_error(error)
        raise
    finally:
        _current.reset(token)
        _close(opened)


@overload
def trace(function: F) -> F: ...


@overload
def trace(*, name: str | None = None, kind: str = "chain", client: Any = None) -> Callable[[F], F]: ...


def trace(
    function: F | None = None, *, name: str | None = None, kind: str = "chain", client: Any = None
) -> F | Callable[[F], F]:
    """Record each call of a function (sync, async, generator or async generator) as a span whose
    inputs are its arguments and outputs its result (a generator's: what it yielded, joined when text).

    >>> @trace
    ... def add(a: int, b: int) -> int:
    ...     return a + b
    >>> add(2, 3)
    5
    """

    def decorate(fn: F) -> F:
        label = name or fn.__name__
        signature = inspect.signature(fn)

        def inputs(args: Any, kwargs: Any) -> dict[str, Any]:
            try:
                bound = signature.bind_partial(*args, **kwargs)
            except TypeError:
                return {"args": args, "kwargs": kwargs}
            return {k: v for k, v in bound.arguments.items() if k not in ("self", "cls")}

        if inspect.isasyncgenfunction(fn):

            @functools.wraps(fn)
            async def agen_wrapper(*args: Any, **kwargs: Any) -> AsyncIterator[Any]:
                with span(label, kind, client=client) as opened:
                    opened.set_inputs(inputs(args, kwargs))
                    produced: list[Any] = []
                    stream = fn(*args, **kwargs)
                    while True:
                        token = _current.set(opened)
                        try:
                            item = await stream.__anext__()
                        except StopAsyncIteration:
                            break
                        finally:
                            _current.reset(token)
                        produced.append(item)
                        yield item
                    opened.set_outputs(_joined(produced))

            return agen_wrapper  # type: ignore[return-value]

        if inspect.isgeneratorfunction(fn):

            @functools.wraps(fn)
            def gen_wrapper(*args: Any, **kwargs: Any) -> Iterator[Any]:
                with span(label, kind, client=client) as opened:
                    opened.set_inputs(inputs(args, kwargs))
                    produced: list[Any] = []
                    stream = fn(*args, **kwargs)
                    while True:
                        token = _current.set(opened)  # the generator's own steps run inside its span
                        try:
                            item = next(stream)
                        except StopIteration:
                            break
                        finally:
                            _current.reset(token)
                        produced.append(item)
                        yield item
                    opened.set_outputs(_joined(produced))

            return gen_wrapper  # type: ignore[return-value]

        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                with span(label, kind, client=client) as opened:
                    opened.set_inputs(inputs(args, kwargs))
                    result = await fn(*args, **kwargs)
                    opened.set_outputs(result)
                    return result

            return async_wrapper  # type: ignore[return-value]

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with span(label, kind, client=client) as opened:
                opened.set_inputs(inputs(args, kwargs))
                result = fn(*args, **kwargs)
                opened.set_outputs(result)
                return result

        return wrapper  # type: ignore[return-value]

    return decorate(function) if function is not None else decorate


def _joined(items: list[Any]) -> Any:
    return "".join(items) if items and all(isinstance(i, str) for i in items) else items


def trace_record(state: _TraceState, root: Span) -> tuple[Trace, list[TraceSpan]]:
    """The finished trace's row and its spans' records."""
    with state.lock:
        records = [s.record() for s in state.spans]
    totals: dict[str, float] = {}
    for record in records:
        for key in ("input_tokens", "output_tokens", "cost"):
            value = record.attributes.get(key)
            if isinstance(value, int | float) and not isinstance(value, bool):
                totals[key] = totals.get(key, 0) + value
    status: SpanStatus = "error" if any(r.status == "error" for r in records) else "ok"
    row = Trace(
        id=state.id,
        name=state.name,
        status=status,
        start_us=root.start_ns // 1000,
        end_us=None if root.end_ns is None else root.end_ns // 1000,
        run_id=state.run_id,
        prompt=state.prompt,
        model=state.model,
        input_tokens=int(totals["input_tokens"]) if "input_tokens" in totals else None,
        output_tokens=int(totals["output_tokens"]) if "output_tokens" in totals else None,
        cost=totals.get("cost"),
        attributes={"spans": len(records)},
    )
    return row, records


class _TraceBuffer:
    """Finished traces, written in batches by a background thread (and at exit, and on flush)."""

    def __init__(self, interval: float = 0.5) -> None:
        self._queue: deque[tuple[_TraceState, Span]] = deque()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._interval = interval
        self._thread: threading.Thread | None = None

    def add(self, state: _TraceState, root: Span) -> None:
        self._queue.append((state, root))
        if self._thread is None:
            with self._lock:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, name="loopwright-traces", daemon=True)
                    self._thread.start()

    def _run(self) -> None:
        while True:
            self._wake.wait(self._interval)
            self._wake.clear()
            try:
                self.flush()
            except Exception:  # a store hiccup: the traces stay queued for the next tick
                log.warning("trace flush failed; will retry", exc_info=True)

    def flush(self) -> None:
        with self._lock:
            while self._queue:
                batch = [self._queue.popleft() for _ in range(min(len(self._queue), 500))]
                by_client: dict[int, tuple[Any, list[Trace], list[TraceSpan]]] = {}
                for state, root in batch:
                    client = state.client or get_client()
                    row, records = trace_record(state, root)
                    entry = by_client.setdefault(id(client), (client, [], []))
                    entry[1].append(row)
                    entry[2].extend(records)
                try:
                    for client, rows, records in by_client.values():
                        client.store.log_traces(rows, records)
                except Exception:
                    self._queue.extendleft(reversed(batch))
                    raise


_buffer = _TraceBuffer()


def flush_traces() -> None:
    """Write every finished trace now (``search_traces`` and ``lw.flush`` do it first).

    >>> import tempfile
    >>> from loopwright.tracking.client import Client
    >>> home = tempfile.mkdtemp()
    >>> client = Client(f"sqlite:///{home}/lw.db", f"{home}/artifacts")
    >>> with span("ask", client=client) as opened:
    ...     pass
    >>> flush_traces()
    >>> client.store.get_trace(opened.trace_id).name
    'ask'
    """
    _buffer.flush()


def _flush_before_reset() -> None:
    """``lw.reset_clients()`` closes the clients queued traces still need: write those first, while the
    environment that chose their store is still in force (a trace without ``client=`` goes to the
    store :func:`get_client` names when it is written)."""
    try:
        _buffer.flush()
    except Exception:
        log.warning("could not write traces before the clients were reset", exc_info=True)


_reset_hooks.append(_flush_before_reset)


@atexit.register
def _flush_at_exit() -> None:
    try:
        _buffer.flush()
    except Exception:
        log.exception("could not write traces at exit")


def search_traces(
    filter: str | None = None,
    order_by: list[str] | None = None,
    max_results: int = 100,
    *,
    client: Any = None,
) -> list[Trace]:
    """Traces matching a filter (``name``, ``status``, ``run_id``, ``prompt``, ``model``, ``start_time``,
    ``duration_ms``, ``input_tokens``, ``output_tokens``, ``cost``), newest first, without their spans.

    >>> import tempfile
    >>> from loopwright.tracking.client import Client
    >>> home = tempfile.mkdtemp()
    >>> client = Client(f"sqlite:///{home}/lw.db", f"{home}/artifacts")
    >>> with span("slow", client=client):
    ...     time.sleep(0.02)
    >>> [t.name for t in search_traces("duration_ms > 10", client=client)]
    ['slow']
    """
    from loopwright.tracking.client import get_client

    flush_traces()
    return list((client or get_client()).store.search_traces(filter, order_by, max_results))


def get_trace(trace_id: str, *, client: Any = None) -> Trace:
    """One trace with all its spans (start order).

    >>> import tempfile
    >>> from loopwright.tracking.client import Client
    >>> home = tempfile.mkdtemp()
    >>> client = Client(f"sqlite:///{home}/lw.db", f"{home}/artifacts")
    >>> with span("root", client=client) as root:
    ...     with span("child", kind="llm"):
    ...         pass
    >>> [s.name for s in get_trace(root.trace_id, client=client).spans]
    ['root', 'child']
    """
    from loopwright.tracking.client import get_client

    flush_traces()
    return (client or get_client()).store.get_trace(trace_id)
