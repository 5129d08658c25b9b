"""`loopwright demo --llm`: a RAG over the bundled handbook, two prompt versions evaluated, the better
one gated into production, one request traced and printed as a tree (offline, a fresh home)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import loopwright as lw


def test_demo_llm_chapter(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = {**os.environ, "LOOPWRIGHT_HOME": str(tmp_path), "COLUMNS": "200"}
    result = subprocess.run(
        [sys.executable, "-m", "loopwright.cli", "demo", "--llm"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    for stage in ("LLM 1. prompts", "LLM 2. evaluation", "LLM 3. gate", "LLM 4. tracing"):
        assert stage in out
    assert "gate prompts:/support-answer/2: passed" in out
    assert "prompts:/support-answer@production → version 2" in out
    # the tree: the chain with its retriever (and the embedding under it) and the LLM call
    for node in ("support-rag chain", "retrieve retriever", "embed-question embedding", "local-llm llm"):
        assert node in out
    assert "A: Customers can return any item within 30 days of delivery for a full refund." in out

    monkeypatch.setenv("LOOPWRIGHT_HOME", str(tmp_path))
    lw.reset_clients()
    assert lw.load_prompt("prompts:/support-answer@production").version == 2
    [request] = lw.search_traces("name = 'support-rag'")  # the one traced request, linked to its prompt
    assert request.prompt == "support-answer/2" and request.model == "local-extractive"
    rows = lw.search_traces("name = 'evaluate_llm.row'", max_results=100)
    assert len(rows) == 8 * 4  # two evaluations, then the gate's two: each row a trace of its own
    lw.reset_clients()
