"""Each LLM scorer against hand-computed values; the bundled embedding model against
sentence-transformers' numbers; the LLM judge against a local chat-completions stand-in."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from openai_standin import ChatStandIn

import loopwright as lw
from loopwright.errors import InvalidInput, Unavailable
from loopwright.llm.embeddings import DIMENSIONS, _MiniLM, embed, load, model_path
from loopwright.llm.scorers import (
    MRR,
    AnswerRelevance,
    Cost,
    EmbeddingSimilarity,
    ExactMatch,
    JsonSchema,
    Latency,
    LLMJudge,
    Regex,
    RetrievalHitRate,
    Row,
    TokenF1,
    get_scorer,
    parse_score,
)


def test_exact_match_regex_and_json_schema() -> None:
    assert ExactMatch().score(Row("q", " Paris\n", "Paris")) == 1.0
    assert ExactMatch().score(Row("q", "paris", "Paris")) == 0.0
    assert ExactMatch(case=False).score(Row("q", "paris", "Paris")) == 1.0
    assert ExactMatch().score(Row("q", "Paris")) is None  # nothing expected: not scored
    assert Regex(r"\b\d{4}-\d{2}-\d{2}\b").score(Row("q", "due 2026-12-01.")) == 1.0
    assert Regex(r"\d+", fullmatch=True).score(Row("q", "12 apples")) == 0.0
    with pytest.raises(InvalidInput, match="invalid pattern"):
        Regex("(")
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    scorer = JsonSchema(schema)
    assert scorer.score(Row("q", '{"n": 3}')) == 1.0
    assert scorer.score(Row("q", '```json\n{"n": 3}\n```')) == 1.0  # a fenced answer is its JSON
    assert scorer.score(Row("q", '{"n": "3"}')) == 0.0  # wrong type
    assert scorer.score(Row("q", "n = 3")) == 0.0  # not JSON
    with pytest.raises(InvalidInput, match="invalid schema"):
        JsonSchema({"type": "integr"})


def test_token_f1_on_known_strings() -> None:
    f1 = TokenF1()
    # answer tokens [paris, is, capital] vs [paris]: P = 1/3, R = 1, F1 = 0.5
    assert f1.score(Row("q", "Paris is the capital.", "Paris")) == pytest.approx(0.5)
    # [quick, brown, fox] vs [brown, fox, jumps, high]: common 2, P = 2/3, R = 1/2, F1 = 4/7
    assert f1.score(Row("q", "The quick brown fox", "brown fox jumps high")) == pytest.approx(4 / 7)
    # repeated tokens count once each per match: [a?] articles dropped; [yes, yes, no] vs [yes]: P 1/3, R 1
    assert f1.score(Row("q", "yes yes no", "yes")) == pytest.approx(0.5)
    assert f1.score(Row("q", "nothing", "else")) == 0.0
    assert f1.score(Row("q", "the", "a")) == 1.0  # both empty after normalisation


def test_retrieval_hit_rate_and_mrr_on_a_known_ranking() -> None:
    rows = [
        Row("q1", "", retrieved=["d4", "d2", "d9"], relevant=["d2"]),  # rank 2
        Row("q2", "", retrieved=["d1", "d3", "d5"], relevant=["d5", "d8"]),  # rank 3
        Row("q3", "", retrieved=[{"id": "d7", "text": "…"}, "d6"], relevant=["d7"]),  # rank 1 (a dict by id)
        Row("q4", "", retrieved=["d1"], relevant=["d2"]),  # missed
        Row("q5", "", retrieved=["d1"]),  # no relevant contexts: not scored
    ]
    mrr = MRR()
    values = [mrr.score(r) for r in rows]
    assert values == [0.5, pytest.approx(1 / 3), 1.0, 0.0, None]
    assert mrr.aggregate(values)["mrr"] == pytest.approx((0.5 + 1 / 3 + 1.0 + 0.0) / 4)
    assert [RetrievalHitRate().score(r) for r in rows] == [1.0, 1.0, 1.0, 0.0, None]
    assert [RetrievalHitRate(k=2).score(r) for r in rows] == [1.0, 0.0, 1.0, 0.0, None]
    by_text = Row("q", "", retrieved=["Paris is in France."], relevant=["Paris is in France."])
    assert mrr.score(by_text) == 1.0


def test_latency_and_cost() -> None:
    assert Latency().aggregate([100.0, 200.0, 300.0, 400.0, None]) == {
        "latency_p50_ms": 250.0,
        "latency_p95_ms": pytest.approx(385.0),
    }
    priced = Cost(input_per_1k=1.0, output_per_1k=2.0)
    assert priced.score(Row("q", "", usage={"input_tokens": 500, "output_tokens": 250})) == pytest.approx(1.0)
    assert priced.score(Row("q", "", usage={"cost": 0.02, "input_tokens": 5})) == 0.02  # reported wins
    assert Cost().score(Row("q", "", usage={"input_tokens": 5})) is None  # no price, no cost
    assert priced.aggregate([1.0, 0.5, None]) == {"cost": 0.75, "cost_total": 1.5}
    with pytest.raises(InvalidInput, match="unknown scorer 'bleu'"):
        get_scorer("bleu")


def test_the_bundled_model_gives_sentence_transformers_vectors() -> None:
    texts = [
        "The cat sat on the mat.",
        "A cat was sitting on a mat.",
        "Stock prices fell sharply today.",
        "hello world",
    ]
    vectors = embed(texts)
    assert vectors.shape == (4, DIMENSIONS) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    # values sentence-transformers 6.2 computed from the same weights (SentenceTransformer(path).encode)
    assert vectors[0, :5] == pytest.approx(
        [0.1302372, -0.01577285, -0.03671669, 0.05798642, -0.05979173], abs=1e-5
    )
    assert vectors[3, :5] == pytest.approx(
        [-0.03447728, 0.03102326, 0.00673499, 0.02610897, -0.03936201], abs=1e-5
    )
    cosines = vectors @ vectors.T
    assert cosines[0, 1] == pytest.approx(0.941913, abs=1e-5)
    assert cosines[0, 2] == pytest.approx(0.059795, abs=1e-5)
    assert embed([]).shape == (0, DIMENSIONS)
    with pytest.raises(InvalidInput):
        embed([1, 2])  # type: ignore[list-item]


def test_both_runtimes_agree_however_texts_are_batched() -> None:
    # 2 to 256 tokens (the cut), so the texts are padded into three batches of different lengths
    texts = ["", "word " * 300, "short one"] + [("word " * (i * 9)) + f"number {i}" for i in range(6)]
    together = embed(texts)
    alone = np.concatenate([embed(t) for t in texts])
    np.testing.assert_allclose(together, alone, atol=1e-6)
    other = "torch" if load().backend == "onnxruntime" else "onnxruntime"
    np.testing.assert_allclose(_MiniLM(model_path(), other).encode(texts), together, atol=1e-6)


def test_embedding_similarity_and_answer_relevance() -> None:
    similar = EmbeddingSimilarity()
    assert similar.score(Row("q", "Refunds take five days.", "Refunds take five days.")) == pytest.approx(
        1.0, abs=1e-5
    )
    paraphrase = similar.score(
        Row("q", "You get your money back within five days.", "Refunds take five days.")
    )
    unrelated = similar.score(Row("q", "The museum opens at nine.", "Refunds take five days."))
    assert paraphrase is not None and unrelated is not None and paraphrase > unrelated + 0.2
    relevance = AnswerRelevance()
    question = "How long do refunds take?"
    on_topic = relevance.score(Row(question, "Refunds take five days."))
    off_topic = relevance.score(Row(question, "Our office has a blue door."))
    assert on_topic is not None and off_topic is not None and on_topic > off_topic + 0.2


RUBRIC = (
    "Grade the answer from 1 to 5.\nQuestion: {{ question }}\nExpected: {{ expected }}\n"
    'Context: {{ contexts }}\nAnswer: {{ answer }}\nReply as JSON {"score": N}.'
)


def test_llm_judge_sends_the_filled_rubric_and_parses_the_score(
    sqlite_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rubric = lw.register_prompt("judge-rubric", RUBRIC, metadata={"model": "judge-large"})
    replies = iter(
        ['{"score": 4, "reason": "close"}', "Score: 2/5 — misses the point", "I cannot grade this"]
    )
    monkeypatch.setenv("JUDGE_KEY", "sk-test-0123456789abcdef")
    with ChatStandIn(lambda messages: next(replies)) as server:
        judge = LLMJudge(rubric.uri, base_url=server.base_url, api_key_env="JUDGE_KEY")
        row = Row("What is 2+2?", "Four.", "4", retrieved=["arithmetic: 2+2=4", {"id": "d2", "text": "sums"}])
        assert judge.score(row) == 4.0
        assert judge.score(row) == 2.0
        assert judge.score(row) is None  # no number in the reply: not scored
    sent = server.requests[0]
    assert sent["model"] == "judge-large" and sent["temperature"] == 0.0
    assert sent["messages"] == [
        {
            "role": "user",
            "content": "Grade the answer from 1 to 5.\nQuestion: What is 2+2?\nExpected: 4\n"
            'Context: arithmetic: 2+2=4\nsums\nAnswer: Four.\nReply as JSON {"score": N}.',
        }
    ]
    assert server.headers[0]["Authorization"] == "Bearer sk-test-0123456789abcdef"
    assert parse_score('```json\n{"score": "3"}\n```') == 3.0


def test_llm_judge_errors_are_one_clear_line(sqlite_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rubric = lw.register_prompt("judge-rubric", "Rate {{ answer }}")
    with pytest.raises(InvalidInput, match="needs a model"):
        LLMJudge(rubric)
    with pytest.raises(InvalidInput, match="uses tone"):
        LLMJudge(lw.register_prompt("bad-rubric", "{{ tone }} {{ answer }}"), model="m")
    with ChatStandIn(lambda messages: "5", status=401) as server:
        judge = LLMJudge(rubric, base_url=server.base_url, model="m", timeout=5)
        with pytest.raises(Unavailable, match=r"chat/completions answered HTTP 401"):
            judge.score(Row("q", "a"))
    closed = LLMJudge(rubric, base_url=server.base_url, model="m", timeout=2)  # the server is gone
    with pytest.raises(Unavailable, match="could not be reached"):
        closed.score(Row("q", "a"))
    monkeypatch.delenv("LOOPWRIGHT_JUDGE_PROMPT", raising=False)
    with pytest.raises(InvalidInput, match="LOOPWRIGHT_JUDGE_PROMPT"):
        get_scorer("llm_judge")
