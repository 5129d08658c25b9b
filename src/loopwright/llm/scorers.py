"""Scorers for :func:`loopwright.evaluate_llm`: one number per row, aggregated into run metrics.

A scorer sees a :class:`Row` (the question, the app's answer, the expected answer, the contexts the
app retrieved and the relevant ones, latency, usage) and returns a float, or ``None`` when it does
not apply to the row (no ``expected`` value, say); its metrics aggregate the rows it scored.
Built in, by name (:func:`get_scorer`):

=======================  ===============================================================  =========
name                     per row                                                          metric(s)
=======================  ===============================================================  =========
``exact_match``          1 when the answer equals ``expected`` (trimmed; ``case=False``)  mean
``regex``                1 when ``pattern`` is found in the answer                        mean
``json_schema``          1 when the answer is JSON (valid against ``schema``, if given)   mean
``token_f1``             SQuAD token F1 of answer vs ``expected`` (lowercased, no         mean
                         punctuation or articles)
``embedding_similarity`` cosine (MiniLM) of answer and ``expected``                       mean
``answer_relevance``     cosine (MiniLM) of answer and question                           mean
``retrieval_hit_rate``   1 when any relevant context is among the first ``k`` retrieved   mean
``mrr``                  1 / rank of the first relevant retrieved context (0 if none)     mean
``latency``              milliseconds of the app call                                     ``latency_p50_ms``, ``latency_p95_ms``
``cost``                 the call's cost (``usage.cost``, or tokens x prices)             ``cost`` (mean), ``cost_total``
``llm_judge``            a judge model's score (:class:`LLMJudge`)                        mean
=======================  ===============================================================  =========

Examples
--------
>>> row = Row(question="Capital of France?", output="Paris is the capital.", expected="Paris")
>>> TokenF1().score(row)
0.5
>>> Regex(r"\\bParis\\b").score(row), ExactMatch().score(row)
(1.0, 0.0)
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import string
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from loopwright.config import get_settings
from loopwright.errors import InvalidInput, Unavailable

if TYPE_CHECKING:
    from loopwright.llm.prompts import PromptVersion

log = logging.getLogger(__name__)


@dataclass
class Row:
    """What a scorer sees of one dataset row and the app's answer to it.

    ``retrieved``: the contexts the app returned (ranked; strings, or dicts with ``id``/``text``).
    ``relevant``: the dataset's ``contexts`` — ids or texts a good retrieval returns.
    ``usage``: ``input_tokens``, ``output_tokens``, ``cost`` when the app reported them.
    """

    question: str
    output: str
    expected: Any = None
    inputs: Any = None
    retrieved: list[Any] | None = None
    relevant: list[Any] | None = None
    latency_ms: float | None = None
    usage: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


class Scorer:
    """The base of every scorer: ``score(row) -> float | None`` and ``aggregate(values) -> metrics``.

    Subclass it (set ``name``, override :meth:`score`) for your own:

    >>> class Short(Scorer):
    ...     name = "short"
    ...     def score(self, row: Row) -> float | None:
    ...         return float(len(row.output) <= 20)
    >>> Short().aggregate([1.0, 0.0, None])
    {'short': 0.5}
    """

    name: str = "scorer"
    #: scores the answer's quality: a row whose app call failed scores 0, not ``None``
    judges_output: bool = True

    def score(self, row: Row) -> float | None:
        raise NotImplementedError

    def metric_names(self) -> tuple[str, ...]:
        """The metrics :meth:`aggregate` reports (what a gate policy may name)."""
        return (self.name,)

    def aggregate(self, values: Sequence[float | None]) -> dict[str, float | None]:
        """The mean of the rows scored (``None`` when none was)."""
        scored = [v for v in values if v is not None]
        return {self.name: float(np.mean(scored)) if scored else None}

    def params(self) -> dict[str, Any]:
        """What configures it (logged on the run)."""
        return {}


class ExactMatch(Scorer):
    """1.0 when the answer equals ``expected`` after trimming (``case=False`` ignores case).

    >>> ExactMatch(case=False).score(Row("q", " paris", "Paris"))
    1.0
    """

    name = "exact_match"

    def __init__(self, case: bool = True) -> None:
        self.case = case

    def score(self, row: Row) -> float | None:
        if row.expected is None:
            return None
        a, b = row.output.strip(), str(row.expected).strip()
        return float(a == b if self.case else a.casefold() == b.casefold())

    def params(self) -> dict[str, Any]:
        return {"case": self.case}


class Regex(Scorer):
    """1.0 when ``pattern`` is found in the answer (``re.search``; ``fullmatch=True`` for the whole).

    >>> Regex(r"\\d+ days", fullmatch=True).score(Row("q", "30 days"))
    1.0
    """

    name = "regex"

    def __init__(self, pattern: str, fullmatch: bool = False, flags: int = 0) -> None:
        try:
            self.pattern = re.compile(pattern, flags)
        except (re.error, TypeError) as error:
            raise InvalidInput(f"regex scorer: invalid pattern {pattern!r}: {error}") from None
        self.fullmatch = fullmatch

    def score(self, row: Row) -> float | None:
        found = self.pattern.fullmatch(row.output) if self.fullmatch else self.pattern.search(row.output)
        return float(found is not None)

    def params(self) -> dict[str, Any]:
        return {"pattern": self.pattern.pattern, "fullmatch": self.fullmatch}


class JsonSchema(Scorer):
    """1.0 when the answer parses as JSON and is valid against ``schema`` (JSON Schema, any draft).

    >>> scorer = JsonSchema({"type": "object", "required": ["city"]})
    >>> scorer.score(Row("q", '{"city": "Paris"}')), scorer.score(Row("q", '{"town": 1}'))
    (1.0, 0.0)
    """

    name = "json_schema"

    def __init__(self, schema: Mapping[str, Any] | None = None) -> None:
        import jsonschema

        self.schema = dict(schema or {})
        try:
            validator = jsonschema.validators.validator_for(self.schema)
            validator.check_schema(self.schema)
        except jsonschema.SchemaError as error:
            raise InvalidInput(f"json_schema scorer: invalid schema: {error.message}") from None
        self.validator = validator(self.schema)

    def score(self, row: Row) -> float | None:
        try:
            value = json.loads(_strip_fence(row.output))
        except ValueError:
            return 0.0
        return float(self.validator.is_valid(value))

    def params(self) -> dict[str, Any]:
        return {"schema": self.schema}


class TokenF1(Scorer):
    """The SQuAD token F1 of answer and ``expected``: lowercased, punctuation and a/an/the removed.

    >>> TokenF1().score(Row("q", "The big cat sat", "a cat sat down"))
    0.6666666666666666
    """

    name = "token_f1"

    def score(self, row: Row) -> float | None:
        if row.expected is None:
            return None
        predicted, truth = _tokens(row.output), _tokens(str(row.expected))
        if not predicted or not truth:
            return float(predicted == truth)
        common = sum((Counter(predicted) & Counter(truth)).values())
        if common == 0:
            return 0.0
        precision, recall = common / len(predicted), common / len(truth)
        return 2 * precision * recall / (precision + recall)


class EmbeddingSimilarity(Scorer):
    """Cosine similarity (bundled all-MiniLM-L6-v2) of the answer and ``expected``.

    >>> round(EmbeddingSimilarity().score(Row("q", "Paris", "Paris")), 4)
    1.0
    """

    name = "embedding_similarity"

    def score(self, row: Row) -> float | None:
        if row.expected is None:
            return None
        return _cosine(row.output, str(row.expected))


class AnswerRelevance(Scorer):
    """Cosine similarity (bundled all-MiniLM-L6-v2) of the answer and the question.

    >>> scorer = AnswerRelevance()
    >>> on_topic = scorer.score(Row("How do I reset my password?", "Click 'Forgot password' to reset it."))
    >>> off_topic = scorer.score(Row("How do I reset my password?", "Bananas are rich in potassium."))
    >>> on_topic > off_topic
    True
    """

    name = "answer_relevance"

    def score(self, row: Row) -> float | None:
        return _cosine(row.output, row.question)


class RetrievalHitRate(Scorer):
    """1.0 when any relevant context (the dataset's ``contexts``) is among the first ``k`` retrieved.

    >>> RetrievalHitRate(k=2).score(Row("q", "", retrieved=["d3", "d1", "d7"], relevant=["d7"]))
    0.0
    """

    name = "retrieval_hit_rate"
    judges_output = False

    def __init__(self, k: int | None = None) -> None:
        if k is not None and (isinstance(k, bool) or not isinstance(k, int) or k < 1):
            raise InvalidInput(f"retrieval_hit_rate: k must be a positive integer, got {k!r}")
        self.k = k

    def score(self, row: Row) -> float | None:
        rank = _first_relevant(row)
        if rank is None:
            return None
        return float(rank > 0 and (self.k is None or rank <= self.k))

    def params(self) -> dict[str, Any]:
        return {"k": self.k}


class MRR(Scorer):
    """Reciprocal rank of the first relevant retrieved context (0 when none is retrieved).

    >>> MRR().score(Row("q", "", retrieved=["d3", {"id": "d1"}, "d7"], relevant=["d1", "d7"]))
    0.5
    """

    name = "mrr"
    judges_output = False

    def score(self, row: Row) -> float | None:
        rank = _first_relevant(row)
        if rank is None:
            return None
        return 1.0 / rank if rank > 0 else 0.0


class Latency(Scorer):
    """The app call's wall time per row; metrics ``latency_p50_ms`` and ``latency_p95_ms``.

    >>> Latency().aggregate([10.0, 20.0, 30.0])
    {'latency_p50_ms': 20.0, 'latency_p95_ms': 29.0}
    """

    name = "latency"
    judges_output = False

    def score(self, row: Row) -> float | None:
        return row.latency_ms

    def metric_names(self) -> tuple[str, ...]:
        return ("latency_p50_ms", "latency_p95_ms")

    def aggregate(self, values: Sequence[float | None]) -> dict[str, float | None]:
        scored = [v for v in values if v is not None]
        if not scored:
            return dict.fromkeys(self.metric_names())
        p50, p95 = np.percentile(scored, [50, 95])
        return {"latency_p50_ms": float(p50), "latency_p95_ms": float(p95)}


class Cost(Scorer):
    """The call's cost: ``usage.cost`` when the app reports it, else tokens times the prices given
    (per 1,000 input / output tokens). Metrics: ``cost`` (mean per row) and ``cost_total``.

    >>> Cost(input_per_1k=0.5, output_per_1k=1.5).score(Row("q", "", usage={"input_tokens": 200, "output_tokens": 100}))
    0.25
    """

    name = "cost"
    judges_output = False

    def __init__(self, input_per_1k: float | None = None, output_per_1k: float | None = None) -> None:
        self.input_per_1k, self.output_per_1k = input_per_1k, output_per_1k

    def score(self, row: Row) -> float | None:
        reported = row.usage.get("cost")
        if isinstance(reported, int | float) and not isinstance(reported, bool):
            return float(reported)
        if self.input_per_1k is None and self.output_per_1k is None:
            return None
        tokens_in, tokens_out = row.usage.get("input_tokens"), row.usage.get("output_tokens")
        if tokens_in is None and tokens_out is None:
            return None
        return (
            (tokens_in or 0) * (self.input_per_1k or 0.0) + (tokens_out or 0) * (self.output_per_1k or 0.0)
        ) / 1000

    def metric_names(self) -> tuple[str, ...]:
        return ("cost", "cost_total")

    def aggregate(self, values: Sequence[float | None]) -> dict[str, float | None]:
        scored = [v for v in values if v is not None]
        if not scored:
            return {"cost": None, "cost_total": None}
        return {"cost": float(np.mean(scored)), "cost_total": float(np.sum(scored))}

    def params(self) -> dict[str, Any]:
        return {"input_per_1k": self.input_per_1k, "output_per_1k": self.output_per_1k}


class LLMJudge(Scorer):
    """An LLM as judge: a rubric prompt from the registry, sent to an OpenAI-compatible
    ``/chat/completions`` endpoint, and the number in its answer.

    The rubric is a ``prompts:/NAME/VERSION`` (or ``@ALIAS``) URI or a
    :class:`~loopwright.llm.prompts.PromptVersion`; its variables are filled from the row:
    ``question``, ``answer``, ``expected``, ``contexts`` (the retrieved ones, one per line) and
    ``inputs`` (JSON). The judge's reply is read as ``{"score": N}`` JSON, else ``score: N``, else
    the first number (``4/5`` → 4); a reply without one scores ``None`` (logged). ``model`` defaults
    to the prompt's ``metadata["model"]``; the API key is read from the environment variable
    ``api_key_env`` at each call (sent as a bearer token when set). An endpoint that cannot be
    reached, times out or answers an error is :class:`~loopwright.errors.Unavailable` naming it.

    By name (``scorers=["llm_judge"]``) it is configured from ``LOOPWRIGHT_JUDGE_PROMPT`` (the
    rubric URI), ``LOOPWRIGHT_JUDGE_BASE_URL`` (default ``OPENAI_BASE_URL``, else
    ``https://api.openai.com/v1``), ``LOOPWRIGHT_JUDGE_MODEL`` and ``LOOPWRIGHT_JUDGE_API_KEY``
    (else ``OPENAI_API_KEY``).

    >>> from loopwright.llm.prompts import PromptVersion
    >>> rubric = PromptVersion("rubric", 1, "Q: {{ question }} A: {{ answer }}", variables=("answer", "question"))
    >>> judge = LLMJudge(rubric, base_url="http://127.0.0.1:9/v1", model="judge")
    >>> judge.render(Row("2+2?", "4"))
    'Q: 2+2? A: 4'
    >>> parse_score('{"score": 4, "why": "correct"}'), parse_score("Score: 3.5/5"), parse_score("no idea")
    (4.0, 3.5, None)
    """

    name = "llm_judge"
    VARIABLES = ("question", "answer", "expected", "contexts", "inputs")

    def __init__(
        self,
        prompt: str | PromptVersion,
        *,
        base_url: str | None = None,
        model: str | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        timeout: float = 60.0,
        temperature: float = 0.0,
        name: str = "llm_judge",
    ) -> None:
        from loopwright.llm.prompts import PromptVersion, load_prompt

        self.prompt = prompt if isinstance(prompt, PromptVersion) else load_prompt(prompt)
        unknown = sorted(set(self.prompt.variables) - set(self.VARIABLES))
        if unknown:
            raise InvalidInput(
                f"judge prompt {self.prompt.uri} uses {', '.join(unknown)}; a judge fills only "
                + ", ".join(self.VARIABLES)
            )
        self.base_url = (base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")
        self.model = model or self.prompt.metadata.get("model")
        if not self.model:
            raise InvalidInput("llm_judge needs a model: model=, or metadata={'model': ...} on the prompt")
        self.api_key_env, self.timeout, self.temperature, self.name = api_key_env, timeout, temperature, name

    @classmethod
    def from_env(cls) -> LLMJudge:
        """A judge configured by ``LOOPWRIGHT_JUDGE_*`` environment variables (see the class)."""
        settings = get_settings()
        prompt = settings.judge_prompt
        if not prompt:
            raise InvalidInput(
                "llm_judge by name needs LOOPWRIGHT_JUDGE_PROMPT=prompts:/NAME/VERSION (the rubric), "
                "or pass LLMJudge(prompt, base_url=..., model=...)"
            )
        return cls(
            prompt,
            base_url=settings.judge_base_url,
            model=settings.judge_model,
            api_key_env="LOOPWRIGHT_JUDGE_API_KEY" if settings.judge_api_key_set else "OPENAI_API_KEY",
        )

    def render(self, row: Row) -> str:
        """The rubric with the row's values filled in."""
        values = {
            "question": row.question,
            "answer": row.output,
            "expected": "" if row.expected is None else str(row.expected),
            "contexts": "\n".join(_text(c) for c in row.retrieved or []),
            "inputs": json.dumps(row.inputs, default=str, ensure_ascii=False),
        }
        return self.prompt.format(**{v: values[v] for v in self.prompt.variables})

    def score(self, row: Row) -> float | None:
        from loopwright.llm.tracing import span

        content = self.render(row)
        with span(self.name, kind="llm") as opened:
            opened.set_model(str(self.model))
            opened.set_prompt(self.prompt.uri)
            answer = chat_completion(
                self.base_url,
                str(self.model),
                content,
                api_key=os.environ.get(self.api_key_env),
                timeout=self.timeout,
                temperature=self.temperature,
            )
            opened.set_outputs(answer)
        found = parse_score(answer["text"])
        if found is None:
            log.warning("llm_judge: no score in the judge's answer %r", answer["text"][:200])
        return found

    def params(self) -> dict[str, Any]:
        return {"prompt": self.prompt.uri, "model": self.model, "base_url": self.base_url}


DEFAULT_BASE_URL = "https://api.openai.com/v1"
_SCORE = re.compile(r"score\W{0,3}\s*(-?\d+(?:\.\d+)?)", re.I)
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def parse_score(text: str) -> float | None:
    """The judge's score: ``{"score": N}`` JSON, else ``score: N``, else the first number; else ``None``."""
    try:
        data = json.loads(_strip_fence(text))
        if isinstance(data, Mapping) and isinstance(data.get("score"), int | float | str):
            return float(data["score"])
        if isinstance(data, int | float) and not isinstance(data, bool):
            return float(data)
    except ValueError:
        pass
    found = _SCORE.search(text) or _NUMBER.search(text)
    return float(found.group(1) if found.re is _SCORE else found.group(0)) if found else None


def chat_completion(
    base_url: str,
    model: str,
    content: str,
    *,
    api_key: str | None = None,
    timeout: float = 60.0,
    temperature: float = 0.0,
) -> dict[str, Any]:
    """One user message to an OpenAI-compatible ``{base_url}/chat/completions``; the answer's text and
    usage (``input_tokens``, ``output_tokens``, ``cost`` when reported) as ``{"text", "usage"}``."""
    url = base_url if base_url.rstrip("/").endswith("/chat/completions") else f"{base_url}/chat/completions"
    body = {"model": model, "messages": [{"role": "user", "content": content}], "temperature": temperature}
    reply = post_json(url, body, api_key=api_key, timeout=timeout)
    try:
        text = reply["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        raise Unavailable(
            f"{url} did not answer in the chat-completions format: {str(reply)[:200]}"
        ) from None
    return {"text": str(text or ""), "usage": usage_of(reply)}


def post_json(url: str, body: Any, *, api_key: str | None = None, timeout: float = 60.0) -> Any:
    """POST JSON, return the JSON answer; anything else is :class:`Unavailable` naming the URL."""
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    request = urllib.request.Request(url, json.dumps(body).encode(), headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as error:
        detail = error.read(300).decode("utf-8", "replace")
        raise Unavailable(f"{url} answered HTTP {error.code}: {' '.join(detail.split())}") from None
    except (urllib.error.URLError, TimeoutError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise Unavailable(f"{url} could not be reached (timeout {timeout:g}s): {reason}") from None
    except ValueError:
        raise Unavailable(f"{url} did not answer JSON") from None


def usage_of(reply: Any) -> dict[str, Any]:
    """Token counts and cost an OpenAI-style answer reports under ``usage`` (empty when none)."""
    usage = reply.get("usage") if isinstance(reply, Mapping) else None
    if not isinstance(usage, Mapping):
        return {}
    found = {
        "input_tokens": usage.get("prompt_tokens", usage.get("input_tokens")),
        "output_tokens": usage.get("completion_tokens", usage.get("output_tokens")),
        "cost": usage.get("cost"),
    }
    return {k: v for k, v in found.items() if isinstance(v, int | float) and not isinstance(v, bool)}


def _text(item: Any) -> str:
    if isinstance(item, Mapping):
        return str(item.get("text", item.get("id", "")))
    return str(item)


#: the scorers a string names (``llm_judge`` by name is configured from LOOPWRIGHT_JUDGE_* variables)
BUILTIN: dict[str, Callable[[], Scorer]] = {
    "exact_match": ExactMatch,
    "token_f1": TokenF1,
    "embedding_similarity": EmbeddingSimilarity,
    "answer_relevance": AnswerRelevance,
    "retrieval_hit_rate": RetrievalHitRate,
    "mrr": MRR,
    "latency": Latency,
    "cost": Cost,
    "json_schema": JsonSchema,
    "llm_judge": lambda: LLMJudge.from_env(),
}
#: every metric the built-in scorers report (what a prompt gate policy may name)
METRICS = (
    "exact_match",
    "regex",
    "json_schema",
    "token_f1",
    "embedding_similarity",
    "answer_relevance",
    "retrieval_hit_rate",
    "mrr",
    "latency_p50_ms",
    "latency_p95_ms",
    "cost",
    "cost_total",
    "llm_judge",
    "error_rate",
)


def get_scorer(scorer: str | Scorer) -> Scorer:
    """A scorer object from itself or its name; ``regex`` needs a pattern, so it is only an object.

    >>> get_scorer("token_f1").name
    'token_f1'
    >>> get_scorer("bleu")
    Traceback (most recent call last):
    ...
    loopwright.errors.InvalidInput: unknown scorer 'bleu'; known: answer_relevance, cost, embedding_similarity, exact_match, json_schema, latency, llm_judge, mrr, retrieval_hit_rate, token_f1 (regex: pass Regex(pattern))
    """
    if isinstance(scorer, Scorer):
        return scorer
    if isinstance(scorer, str) and scorer in BUILTIN:
        return BUILTIN[scorer]()
    raise InvalidInput(
        f"unknown scorer {scorer!r}; known: {', '.join(sorted(BUILTIN))} (regex: pass Regex(pattern))"
    )


def scorer_for_metric(metric: str) -> str | None:
    """The built-in scorer that reports ``metric`` (``latency_p95_ms`` → ``latency``).

    >>> scorer_for_metric("cost_total"), scorer_for_metric("error_rate")
    ('cost', None)
    """
    if metric in ("latency_p50_ms", "latency_p95_ms"):
        return "latency"
    if metric == "cost_total":
        return "cost"
    return metric if metric in BUILTIN else None


_PUNCTUATION = str.maketrans("", "", string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b")


def _tokens(text: str) -> list[str]:
    return _ARTICLES.sub(" ", text.lower().translate(_PUNCTUATION)).split()


def _strip_fence(text: str) -> str:
    """JSON inside a Markdown code fence (models like to add one) is the JSON."""
    stripped = text.strip()
    fenced = re.fullmatch(r"```(?:json)?\s*(.*?)\s*```", stripped, re.S)
    return fenced.group(1) if fenced else stripped


def _cosine(a: str, b: str) -> float:
    from loopwright.llm.embeddings import embed

    left, right = embed([a, b])
    value = float(left @ right)
    return max(-1.0, min(1.0, value)) if math.isfinite(value) else 0.0


def _key(item: Any) -> set[str]:
    if isinstance(item, Mapping):
        return {str(item[k]).strip() for k in ("id", "text") if item.get(k) is not None}
    return {str(item).strip()}


def _first_relevant(row: Row) -> int | None:
    """The 1-based rank of the first relevant retrieved context, 0 when none is, ``None`` when the row
    has no relevant contexts to look for."""
    if not row.relevant:
        return None
    wanted = set().union(*(_key(r) for r in row.relevant))
    for rank, item in enumerate(row.retrieved or [], start=1):
        if _key(item) & wanted:
            return rank
    return 0
