"""The demo's LLM chapter (``loopwright demo --llm``): a small RAG app, governed like a model.

The knowledge base is the six handbook paragraphs shipped in ``loopwright/demo/handbook``; retrieval
ranks them with the bundled all-MiniLM-L6-v2 embeddings. The "LLM" is a deterministic local stand-in
(no network, no weights beyond the embedding model): it reads the rendered prompt and answers with
one sentence of the retrieved context, chosen the way the prompt's instruction says: the first
sentence (prompt version 1) or the sentence closest in meaning to the question (version 2). So the
two prompt versions really answer differently, and evaluation tells them apart.

Stages: two prompt versions registered (``production`` on v1) → both evaluated with
``lw.evaluate_llm`` on eight questions with expected answers (token F1, retrieval hit rate) → v2
gated against the ``production`` holder with a policy, and promoted → one request traced
(chain → retriever → embedding, llm) and printed as a tree.
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources
from typing import Any

import numpy as np
from rich.console import Console

import loopwright as lw
from loopwright.cli.render import table
from loopwright.cli.traces import trace_tree
from loopwright.llm.embeddings import embed
from loopwright.llm.prompts import PromptVersion

PROMPT = "support-answer"
TEMPLATES = (
    "Answer with the first sentence of the context.\nContext: {{ context }}\nQuestion: {{ question }}",
    "Answer with the context sentence closest to the question.\nContext: {{ context }}\nQuestion: {{ question }}",
)
# (question, the handbook sentence that answers it, the paragraph it is in)
QUESTIONS = [
    (
        "How long do refunds take to reach me?",
        "Refunds go back to the original payment method within five business days of the return arriving at our warehouse.",
        "returns",
    ),
    (
        "Which countries do you ship to?",
        "We ship to every country in the European Union, Norway and Switzerland.",
        "shipping",
    ),
    (
        "Is water damage covered by the warranty?",
        "Damage from drops, water or unauthorised repairs is not covered.",
        "warranty",
    ),
    (
        "What happens after too many failed sign-in attempts?",
        "Accounts are locked for fifteen minutes after five failed sign-in attempts.",
        "accounts",
    ),
    (
        "Where can I download my invoices?",
        "Invoices are issued as PDF files and can be downloaded from the orders page.",
        "payments",
    ),
    (
        "When does the support chat answer?",
        "The support team answers chat messages from 8 am to 8 pm on weekdays.",
        "support",
    ),
    (
        "How fast is express shipping?",
        "Express shipping arrives the next business day when the order is placed before 2 pm.",
        "shipping",
    ),
    (
        "How do I claim the warranty?",
        "To claim the warranty, send a photo of the defect and the order number to the support team.",
        "warranty",
    ),
]
POLICY = {
    "metric_thresholds": {"token_f1": {"min": 0.5}, "retrieval_hit_rate": {"min": 0.8}},
    "versus_champion": {"token_f1": {"min_delta": 0.0}},
}
_SENTENCE = re.compile(r"(?<=[.!?])\s+")


@cache
def handbook() -> dict[str, str]:
    """The shipped paragraphs by topic (file name)."""
    folder = resources.files("loopwright.demo") / "handbook"
    return {
        entry.name.removesuffix(".md"): entry.read_text().strip()
        for entry in sorted(folder.iterdir(), key=lambda e: e.name)
        if entry.name.endswith(".md")
    }


@cache
def _index() -> tuple[list[str], np.ndarray]:
    topics = list(handbook())
    return topics, embed([handbook()[t] for t in topics])


def retrieve(question: str) -> str:
    """The topic of the paragraph closest to ``question``."""
    topics, vectors = _index()
    with lw.span("embed-question", kind="embedding", attributes={"model": "all-MiniLM-L6-v2"}):
        query = embed(question)[0]
    return topics[int(np.argmax(vectors @ query))]


def local_llm(prompt: str) -> str:
    """The deterministic stand-in for an LLM: one sentence of the prompt's context, picked as told.

    >>> local_llm("Answer with the first sentence of the context.\\nContext: A b. C d.\\nQuestion: c?")
    'A b.'
    """
    context = prompt.split("Context: ", 1)[1].split("\nQuestion: ", 1)[0]
    question = prompt.split("\nQuestion: ", 1)[1]
    sentences = _SENTENCE.split(context)
    if "closest to the question" not in prompt:
        return sentences[0]
    vectors = embed([question, *sentences])
    return sentences[int(np.argmax(vectors[1:] @ vectors[0]))]


def make_app(prompt: PromptVersion) -> Any:
    """The RAG app using ``prompt``: retrieve a paragraph, render the prompt, ask the local LLM."""

    @lw.trace(name="support-rag", kind="chain")
    def app(question: str) -> dict[str, Any]:
        with lw.span("retrieve", kind="retriever") as retrieving:
            topic = retrieve(question)
            retrieving.set_outputs(topic)
        rendered = prompt.format(context=handbook()[topic], question=question)
        with lw.span("local-llm", kind="llm") as call:
            call.set_prompt(prompt.uri)
            call.set_model("local-extractive")
            answer = local_llm(rendered)
            call.set_usage(input_tokens=len(rendered.split()), output_tokens=len(answer.split()))
        return {"text": answer, "contexts": [topic]}

    return app


def dataset() -> list[dict[str, Any]]:
    """The evaluation rows: question, expected answer, relevant paragraph."""
    return [{"inputs": q, "expected": answer, "contexts": [topic]} for q, answer, topic in QUESTIONS]


def run_llm_demo(console: Console) -> None:
    """Register, evaluate, gate and trace the RAG app, printing each stage."""
    console.rule("[bold]LLM 1. prompts: two versions of the answer prompt")
    versions = [lw.register_prompt(PROMPT, template) for template in TEMPLATES]
    lw.set_prompt_alias(PROMPT, "production", versions[0].version)
    for v in versions:
        console.print(f"{v.uri}: {v.template.splitlines()[0]!r}")
    console.print(f"prompts:/{PROMPT}@production → version {versions[0].version}")

    console.rule("[bold]LLM 2. evaluation: a RAG over the bundled handbook, both prompts")
    data = dataset()
    scorers = ["token_f1", "retrieval_hit_rate"]
    rows = []
    for v in versions:
        result = lw.evaluate_llm(make_app(v), data, scorers=scorers, prompt=v)
        rows.append((v.uri, *(f"{result.metrics[s]:.3f}" for s in scorers), result.run_id[:8]))
    console.print(table(f"{len(data)} questions", ["prompt", *scorers, "run"], rows))

    console.rule("[bold]LLM 3. gate: the better prompt moves production")
    verdict = lw.gate(
        versions[1].uri, POLICY, data, app=make_app, promote="production", champion_alias="production"
    )
    console.print(f"gate {versions[1].uri}: {'passed' if verdict.passed else 'failed'}")
    production = lw.load_prompt(f"prompts:/{PROMPT}@production")
    console.print(f"prompts:/{PROMPT}@production → version {production.version}")

    console.rule("[bold]LLM 4. tracing: one request, as a tree")
    question = "Can I get my money back for an unused item?"
    answer = make_app(production)(question)
    console.print(f"Q: {question}\nA: {answer['text']}")
    lw.flush_traces()
    [latest] = lw.search_traces("name = 'support-rag'", max_results=1)
    console.print(trace_tree(lw.get_trace(latest.id)))
