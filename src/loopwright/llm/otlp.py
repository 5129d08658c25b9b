"""OpenTelemetry in and out: traces as OTLP JSON (a file or a collector's ``/v1/traces``), and back.

Export writes OTLP/JSON (``resourceSpans → scopeSpans → spans``, hex ids, nanosecond times) with
the attributes OpenTelemetry's GenAI conventions and OpenInference use, so a collector, Jaeger or
Phoenix reads our spans: ``openinference.span.kind`` (``LLM``, ``RETRIEVER`` …), ``input.value`` /
``output.value``, ``gen_ai.usage.input_tokens`` / ``output_tokens``. Import reads the same keys
back, so spans that other OpenTelemetry instrumentation produced land in Loopwright as traces
(an unknown kind becomes ``chain``).

Examples
--------
>>> from loopwright.store.entities import Trace, TraceSpan
>>> root = TraceSpan("ab" * 16, "cd" * 8, None, "ask", "llm", "ok", 1_000, 2_000,
...                  {"inputs": {"q": "hi"}, "outputs": "hello", "input_tokens": 3})
>>> document = to_otlp([Trace("ab" * 16, "ask", "ok", 1_000, 2_000, spans=[root])])
>>> span = document["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
>>> span["startTimeUnixNano"], span["attributes"][0]
('1000000', {'key': 'openinference.span.kind', 'value': {'stringValue': 'LLM'}})
>>> [t.spans[0].attributes["outputs"] for t in from_otlp(document)]
['hello']
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx

from loopwright.errors import InvalidInput, Unavailable
from loopwright.store.entities import SPAN_KINDS, SpanKind, Trace, TraceSpan

KIND_KEY = "openinference.span.kind"
# our attribute → the OpenTelemetry attribute it is exported as (and read back from)
EXPORTED = {
    "inputs": "input.value",
    "outputs": "output.value",
    "input_tokens": "gen_ai.usage.input_tokens",
    "output_tokens": "gen_ai.usage.output_tokens",
    "cost": "loopwright.cost",
    "model": "gen_ai.request.model",
    "prompt": "loopwright.prompt",
}
IMPORTED = {
    **{otel: ours for ours, otel in EXPORTED.items()},
    "llm.token_count.prompt": "input_tokens",  # OpenInference's names
    "llm.token_count.completion": "output_tokens",
    "llm.model_name": "model",
    "gen_ai.usage.prompt_tokens": "input_tokens",  # the GenAI convention's older names
    "gen_ai.usage.completion_tokens": "output_tokens",
}
STATUS_OK, STATUS_ERROR = 1, 2


def _value(value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    if isinstance(value, float):
        return {"doubleValue": value}
    if isinstance(value, str):
        return {"stringValue": value}
    return {"stringValue": json.dumps(value, default=str)}  # structures travel as JSON text


def _plain(value: Mapping[str, Any]) -> Any:
    if "stringValue" in value:
        text = value["stringValue"]
        if isinstance(text, str) and text[:1] in "[{":
            try:
                return json.loads(text)
            except ValueError:
                return text
        return text
    if "intValue" in value:
        return int(value["intValue"])
    if "doubleValue" in value:
        return float(value["doubleValue"])
    if "boolValue" in value:
        return bool(value["boolValue"])
    if "arrayValue" in value:
        return [_plain(v) for v in value["arrayValue"].get("values", [])]
    if "kvlistValue" in value:
        return {kv["key"]: _plain(kv.get("value", {})) for kv in value["kvlistValue"].get("values", [])}
    return None


def _span(span: TraceSpan) -> dict[str, Any]:
    attributes = [{"key": KIND_KEY, "value": {"stringValue": span.kind.upper()}}]
    for key, value in span.attributes.items():
        attributes.append({"key": EXPORTED.get(key, key), "value": _value(value)})
    document: dict[str, Any] = {
        "traceId": span.trace_id,
        "spanId": span.span_id,
        "name": span.name,
        "kind": 1,  # SPAN_KIND_INTERNAL
        "startTimeUnixNano": str(span.start_us * 1000),
        "endTimeUnixNano": str((span.end_us or span.start_us) * 1000),
        "attributes": attributes,
        "status": {
            "code": STATUS_ERROR if span.status == "error" else STATUS_OK,
            "message": span.error or "",
        },
    }
    if span.parent_id:
        document["parentSpanId"] = span.parent_id
    if span.events:
        document["events"] = [
            {
                "name": str(event.get("name", "")),
                "timeUnixNano": str(int(event.get("time_us", span.start_us)) * 1000),
                "attributes": [
                    {"key": k, "value": _value(v)} for k, v in event.items() if k not in ("name", "time_us")
                ],
            }
            for event in span.events
        ]
    return document


def to_otlp(traces: Sequence[Trace]) -> dict[str, Any]:
    """OTLP/JSON ``ExportTraceServiceRequest`` of these traces (with their spans)."""
    return {
        "resourceSpans": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "loopwright"}}]},
                "scopeSpans": [
                    {"scope": {"name": "loopwright"}, "spans": [_span(s) for t in traces for s in t.spans]}
                ],
            }
        ]
    }


def from_otlp(document: Mapping[str, Any]) -> list[Trace]:
    """The traces an OTLP/JSON document holds; a span whose parent is not in it is a root."""
    if not isinstance(document, Mapping) or not isinstance(document.get("resourceSpans"), list):
        raise InvalidInput("not OTLP/JSON: expected an object with a 'resourceSpans' list")
    by_trace: dict[str, list[TraceSpan]] = {}
    try:
        for resource in document["resourceSpans"]:
            for scope in resource.get("scopeSpans", []) or resource.get("instrumentationLibrarySpans", []):
                for raw in scope.get("spans", []):
                    span = _from_span(raw)
                    by_trace.setdefault(span.trace_id, []).append(span)
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise InvalidInput(f"not OTLP/JSON: {type(error).__name__}: {error}") from None
    return [_trace(spans) for spans in by_trace.values()]


def _hex(value: Any, length: int) -> str:
    text = str(value).lower()
    if len(text) != length or any(c not in "0123456789abcdef" for c in text):
        raise ValueError(f"id {value!r} is not {length} hex digits (OTLP/JSON ids are hex)")
    return text


def _from_span(raw: Mapping[str, Any]) -> TraceSpan:
    attributes: dict[str, Any] = {}
    kind: SpanKind = "chain"
    for item in raw.get("attributes", []):
        key, value = item["key"], _plain(item.get("value", {}))
        if key == KIND_KEY and str(value).lower() in SPAN_KINDS:
            kind = str(value).lower()  # type: ignore[assignment]
        elif key != KIND_KEY:
            attributes[IMPORTED.get(key, key)] = value
    status = raw.get("status") or {}
    failed = status.get("code") in (STATUS_ERROR, "STATUS_CODE_ERROR")
    start = int(raw["startTimeUnixNano"]) // 1000
    end = raw.get("endTimeUnixNano")
    return TraceSpan(
        trace_id=_hex(raw["traceId"], 32),
        span_id=_hex(raw["spanId"], 16),
        parent_id=_hex(raw["parentSpanId"], 16) if raw.get("parentSpanId") else None,
        name=str(raw.get("name") or "span")[:256],
        kind=kind,
        status="error" if failed else "ok",
        start_us=start,
        end_us=int(end) // 1000 if end else None,
        attributes=attributes,
        events=[
            {"name": e.get("name", ""), "time_us": int(e.get("timeUnixNano", 0)) // 1000}
            | {a["key"]: _plain(a.get("value", {})) for a in e.get("attributes", [])}
            for e in raw.get("events", [])
        ],
        error=(status.get("message") or "error") if failed else None,
    )


def _trace(spans: list[TraceSpan]) -> Trace:
    ids = {s.span_id for s in spans}
    roots = [s for s in spans if s.parent_id is None or s.parent_id not in ids] or spans
    root = min(roots, key=lambda s: s.start_us)
    totals: dict[str, float] = {}
    for span in spans:
        for key in ("input_tokens", "output_tokens", "cost"):
            value = span.attributes.get(key)
            if isinstance(value, int | float) and not isinstance(value, bool):
                totals[key] = totals.get(key, 0) + value
    ends = [s.end_us for s in spans if s.end_us is not None]
    prompt = next((str(s.attributes["prompt"]) for s in spans if s.attributes.get("prompt")), None)
    model = next((str(s.attributes["model"]) for s in spans if s.attributes.get("model")), None)
    return Trace(
        id=root.trace_id,
        name=root.name,
        status="error" if any(s.status == "error" for s in spans) else "ok",
        start_us=min(s.start_us for s in spans),
        end_us=max(ends) if ends else None,
        prompt=prompt.removeprefix("prompts:/") if prompt else None,
        model=model.removeprefix("models:/") if model else None,
        input_tokens=int(totals["input_tokens"]) if "input_tokens" in totals else None,
        output_tokens=int(totals["output_tokens"]) if "output_tokens" in totals else None,
        cost=totals.get("cost"),
        attributes={"spans": len(spans), "imported": "otlp"},
        spans=sorted(spans, key=lambda s: s.start_us),
    )


def export_traces(
    destination: str | Path,
    filter: str | None = None,
    max_results: int = 1000,
    *,
    client: Any = None,
) -> int:
    """Write the traces a filter selects as OTLP/JSON to a file, or POST them to a collector URL
    (``http://collector:4318`` → ``/v1/traces``); return how many traces went.

    >>> import tempfile
    >>> from loopwright.llm.tracing import span
    >>> from loopwright.tracking.client import Client
    >>> home = tempfile.mkdtemp()
    >>> client = Client(f"sqlite:///{home}/lw.db", f"{home}/artifacts")
    >>> with span("ask", kind="llm", client=client):
    ...     pass
    >>> export_traces(f"{home}/traces.json", client=client)
    1
    """
    from loopwright.llm.tracing import get_trace, search_traces

    found = [get_trace(t.id, client=client) for t in search_traces(filter, None, max_results, client=client)]
    document = to_otlp(found)
    target = str(destination)
    if target.startswith(("http://", "https://")):
        url = target if target.rstrip("/").endswith("/v1/traces") else target.rstrip("/") + "/v1/traces"
        try:
            answer = httpx.post(url, json=document, timeout=30)
        except httpx.HTTPError as error:
            raise Unavailable(f"cannot reach the OTLP collector {url}: {error}") from None
        if answer.status_code >= 300:
            raise Unavailable(f"the OTLP collector {url} answered {answer.status_code}: {answer.text[:200]}")
    else:
        Path(target).write_text(json.dumps(document))
    return len(found)


def import_traces(source: str | Path | Mapping[str, Any], *, client: Any = None) -> int:
    """Store the traces of an OTLP/JSON file (or document); return how many. Importing the same
    spans again changes nothing.

    >>> import tempfile
    >>> from loopwright.tracking.client import Client
    >>> home = tempfile.mkdtemp()
    >>> client = Client(f"sqlite:///{home}/lw.db", f"{home}/artifacts")
    >>> span = {"traceId": "ab" * 16, "spanId": "cd" * 8, "name": "ask", "startTimeUnixNano": "1000"}
    >>> import_traces({"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]}, client=client)
    1
    >>> client.store.get_trace("ab" * 16).name
    'ask'
    """
    from loopwright.tracking.client import get_client

    if isinstance(source, Mapping):
        document = source
    else:
        try:
            document = json.loads(Path(source).read_text())
        except (OSError, ValueError) as error:
            raise InvalidInput(f"cannot read OTLP/JSON from {str(source)!r}: {error}") from None
    found = from_otlp(document)
    store = (client or get_client()).store
    store.log_traces(found, [s for t in found for s in t.spans])
    return len(found)
