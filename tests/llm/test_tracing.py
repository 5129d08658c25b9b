"""Tracing: nested spans from sync, async and streaming code, links, redaction, search, OTLP in and out."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest

import loopwright as lw
from cli_process import run_cli_here
from loopwright.errors import InvalidInput


@lw.trace(kind="retriever")
def retrieve(question: str) -> list[str]:
    return ["doc-1", "doc-2"]


@lw.trace(name="chat", kind="llm")
def call_llm(prompt: str, api_key: str) -> dict[str, Any]:
    return {"text": "42", "usage": {"prompt_tokens": 12, "completion_tokens": 3, "cost": 0.002}}


@lw.trace(kind="agent")
def agent(question: str) -> str:
    docs = retrieve(question)
    with lw.span("tool:calculator", kind="tool", attributes={"expression": "6*7"}):
        pass
    prompt = lw.load_prompt("prompts:/support-answer/1").format(tone="calm", question=question)
    return str(call_llm(prompt + " ".join(docs), api_key="sk-" + "x" * 24)["text"])


def _tree(trace: lw.Trace) -> list[tuple[str, str | None]]:
    names = {s.span_id: s.name for s in trace.spans}
    return [(s.name, names.get(s.parent_id or "")) for s in trace.spans]


def test_an_agent_is_one_tree_linked_to_its_run_and_prompt(lw_env: Path) -> None:
    lw.register_prompt("support-answer", "Answer as {{ tone }}: {{ question }}")
    with lw.start_run("rag-eval") as run:
        assert agent("what is 6*7?") == "42"
    [found] = lw.search_traces()
    trace = lw.get_trace(found.id)
    assert _tree(trace) == [
        ("agent", None),
        ("retrieve", "agent"),
        ("tool:calculator", "agent"),
        ("chat", "agent"),
    ]
    assert (trace.run_id, trace.prompt) == (run.id, "support-answer/1")
    assert (trace.input_tokens, trace.output_tokens, trace.cost) == (12, 3, pytest.approx(0.002))
    chat = trace.spans[-1]
    assert chat.kind == "llm" and chat.attributes["inputs"]["api_key"] == "[REDACTED]"
    assert trace.spans[0].attributes["prompt"] == "prompts:/support-answer/1"  # rendered in the agent's span
    assert trace.spans[0].attributes["outputs"] == "42" and trace.status == "ok"
    assert all(s.end_us is not None and s.end_us >= s.start_us for s in trace.spans)


def test_async_code_and_streams_nest_under_the_right_parent(sqlite_env: Path) -> None:
    @lw.trace(kind="llm")
    async def complete(text: str) -> str:
        await asyncio.sleep(0.001)
        return text.upper()

    @lw.trace(kind="llm")
    async def stream_tokens(text: str) -> AsyncIterator[str]:
        for word in text.split():
            await asyncio.sleep(0)
            retrieve(word)  # a span opened inside the stream is its child
            yield word + " "

    @lw.trace(kind="chain")
    def sync_stream(n: int) -> Iterator[str]:
        for i in range(n):
            with lw.span(f"step-{i}", kind="tool"):
                yield str(i)

    @lw.trace(kind="agent")
    async def pipeline() -> str:
        first, second = await asyncio.gather(complete("a"), complete("b"))
        streamed = "".join([piece async for piece in stream_tokens("x y")])
        return first + second + streamed + "".join(sync_stream(2))

    assert asyncio.run(pipeline()) == "ABx y 01"
    trace = lw.get_trace(lw.search_traces()[0].id)
    tree = _tree(trace)
    assert tree[0] == ("pipeline", None)
    assert sorted(t for t in tree if t[0] == "complete") == [("complete", "pipeline")] * 2
    assert ("stream_tokens", "pipeline") in tree and tree.count(("retrieve", "stream_tokens")) == 2
    assert ("step-0", "sync_stream") in tree and ("step-1", "sync_stream") in tree
    streamed = next(s for s in trace.spans if s.name == "stream_tokens")
    assert streamed.attributes["outputs"] == "x y "  # a text stream's pieces, joined


def test_an_error_marks_its_span_and_the_trace_and_still_raises(sqlite_env: Path) -> None:
    @lw.trace(kind="tool")
    def broken() -> None:
        raise RuntimeError("tool exploded")

    with pytest.raises(RuntimeError), lw.span("root", kind="agent"):
        broken()
    [found] = lw.search_traces("status = 'error'")
    spans = {s.name: s for s in lw.get_trace(found.id).spans}
    assert spans["broken"].status == "error" and spans["broken"].error == "RuntimeError: tool exploded"
    assert lw.search_traces("status = 'ok'") == []
    with pytest.raises(InvalidInput, match="unknown span kind"), lw.span("x", kind="banana"):
        pass


def test_redaction_hooks_and_size_caps(sqlite_env: Path) -> None:
    lw.configure_tracing(
        redactors=[lambda k, v: "[EMAIL]" if isinstance(v, str) and "@" in v else v], max_chars=50
    )
    try:
        with lw.span("r", kind="llm") as s:
            s.set_inputs({"user": "ada@example.com", "header": "Bearer abcdefghijklmnop", "text": "y" * 500})
    finally:
        lw.configure_tracing(redactors=[], max_chars=10_000)
    inputs = lw.get_trace(s.trace_id).spans[0].attributes["inputs"]
    assert inputs["user"] == "[EMAIL]" and inputs["header"] == "[REDACTED]"
    assert inputs["text"].startswith("y" * 50) and inputs["text"].endswith("[450 more characters]")


def test_search_filters_and_newest_first(sqlite_env: Path) -> None:
    for name in ("first", "second", "third"):
        with lw.span(name, kind="chain"):
            pass
    assert [t.name for t in lw.search_traces()] == ["third", "second", "first"]
    assert [t.name for t in lw.search_traces("name LIKE 'th%'")] == ["third"]
    with pytest.raises(InvalidInput):
        lw.search_traces("metrics.x > 1")


def test_otlp_round_trip_through_a_file_and_a_collector(sqlite_env: Path, tmp_path: Path) -> None:
    lw.register_prompt("support-answer", "Answer as {{ tone }}: {{ question }}")
    agent("q")
    path = tmp_path / "traces.json"
    assert lw.export_traces(path) == 1
    document = json.loads(path.read_text())
    spans = document["resourceSpans"][0]["scopeSpans"][0]["spans"]
    assert {s["name"] for s in spans} == {"agent", "retrieve", "tool:calculator", "chat"}
    assert all(len(s["traceId"]) == 32 and len(s["spanId"]) == 16 for s in spans)

    received: list[dict[str, Any]] = []

    class Collector(BaseHTTPRequestHandler):  # what an OpenTelemetry collector's OTLP/HTTP receiver does
        def do_POST(self) -> None:
            assert self.path == "/v1/traces" and self.headers["Content-Type"] == "application/json"
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Collector)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        assert lw.export_traces(f"http://127.0.0.1:{server.server_port}") == 1
    finally:
        server.shutdown()
    assert received and received[0]["resourceSpans"][0]["scopeSpans"][0]["spans"]

    original = lw.get_trace(lw.search_traces()[0].id)
    home = tmp_path / "other"
    lw.reset_clients()
    import os

    os.environ["LOOPWRIGHT_HOME"] = str(home)
    try:
        assert lw.import_traces(path) == 1
        assert lw.import_traces(path) == 1  # again: nothing duplicated
        copy = lw.get_trace(original.id)
    finally:
        os.environ["LOOPWRIGHT_HOME"] = str(sqlite_env)
        lw.reset_clients()
    assert _tree(copy) == _tree(original)
    assert [s.kind for s in copy.spans] == [s.kind for s in original.spans]
    assert copy.spans[-1].attributes["inputs"] == original.spans[-1].attributes["inputs"]
    assert (copy.input_tokens, copy.output_tokens, copy.prompt) == (12, 3, "support-answer/1")


def test_foreign_otlp_spans_land_as_traces(sqlite_env: Path, tmp_path: Path) -> None:
    foreign = {  # OpenInference-instrumented spans from another tool
        "resourceSpans": [{"scopeSpans": [{"spans": [
            {"traceId": "0af7651916cd43dd8448eb211c80319c", "spanId": "b7ad6b7169203331", "name": "ChatCompletion",
             "startTimeUnixNano": "1700000000000000000", "endTimeUnixNano": "1700000000500000000",
             "attributes": [{"key": "openinference.span.kind", "value": {"stringValue": "LLM"}},
                            {"key": "llm.token_count.prompt", "value": {"intValue": "7"}},
                            {"key": "llm.model_name", "value": {"stringValue": "gpt-4o-mini"}}],
             "status": {"code": 2, "message": "rate limited"}}]}]}]}  # fmt: skip
    (tmp_path / "foreign.json").write_text(json.dumps(foreign))
    assert lw.import_traces(tmp_path / "foreign.json") == 1
    trace = lw.get_trace("0af7651916cd43dd8448eb211c80319c")
    assert (trace.status, trace.model, trace.input_tokens, trace.duration_ms) == (
        "error",
        "gpt-4o-mini",
        7,
        500.0,
    )
    assert trace.spans[0].kind == "llm" and trace.spans[0].error == "rate limited"
    with pytest.raises(InvalidInput, match="OTLP"):
        lw.import_traces({"spans": []})


def test_the_cli_lists_and_shows_a_tree(sqlite_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lw.register_prompt("support-answer", "Answer as {{ tone }}: {{ question }}")
    agent("q")
    lw.flush()
    code, out, err = run_cli_here(capsys, "traces", "list")
    assert code == 0 and "agent" in out, err
    trace_id = lw.search_traces()[0].id
    code, out, err = run_cli_here(capsys, "traces", "show", trace_id)
    assert code == 0, err
    lines = out.splitlines()
    assert any("agent" in line and "agent" in line for line in lines)
    assert any("chat" in line and "llm" in line and "tokens 12→3" in line for line in lines)
    code, _, err = run_cli_here(capsys, "traces", "show", "f" * 32)
    assert code == 1 and "not found" in err
