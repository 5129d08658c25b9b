"""OpenAI-compatible routes: ``POST /v1/embeddings``, ``POST /v1/chat/completions``, ``GET /v1/models``.

An endpoint answers them when its model says what it does: the bundled embedding model
(``loopwright serve bundled:all-MiniLM-L6-v2``) is an ``embeddings`` model; a registered pyfunc is
one when it was logged with ``metadata={"task": "embeddings"}`` (``predict(list_of_texts)`` returns
one vector per text) or ``metadata={"task": "chat"}`` (``predict(list_of_requests)`` gets
``{"messages": [...], "temperature": ..., ...}`` per request and returns, per request, the reply text
or ``{"content": ..., "finish_reason": ..., "usage": {...}}``). The request's ``model`` is the
endpoint name. Requests go through the endpoint's batcher, metrics and prediction log like any
other, so concurrent embedding requests share one forward pass.

Errors use OpenAI's body shape, ``{"error": {"message", "type", "param", "code"}}``, which its
clients turn into typed exceptions.

Examples
--------
>>> request = parse_embeddings({"model": "m", "input": "hi"})
>>> request.model, request.texts, request.base64
('m', ['hi'], False)
>>> import numpy as np
>>> orjson.loads(embeddings_body("m", np.array([[0.5, 1.0]], dtype=np.float32), 2, False))["data"]
[{'object': 'embedding', 'index': 0, 'embedding': [0.5, 1.0]}]
>>> openai_error_body(HttpError(404, "no model 'x'"), "r1")
(404, b'{"error":{"message":"no model \\'x\\'","type":"not_found_error","param":null,"code":"model_not_found"}}')
"""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
import pandas as pd

from loopwright.errors import InvalidInput
from loopwright.serving.responses import HttpError, status_of

TASKS = ("embeddings", "chat")
BUNDLED_SCHEME = "bundled:"
BUNDLED_EMBEDDINGS = "all-MiniLM-L6-v2"  # loopwright.llm.embeddings.MODEL_NAME, without importing torch
MAX_INPUTS = 2048  # OpenAI's limit of texts per embeddings request
_ERROR_TYPES = {
    401: ("authentication_error", "invalid_api_key"),
    403: ("permission_error", "permission_denied"),
    404: ("not_found_error", "model_not_found"),
    413: ("invalid_request_error", "request_too_large"),
    429: ("rate_limit_error", "rate_limit_exceeded"),
}


class BundledEmbeddings:
    """The bundled all-MiniLM-L6-v2 (:mod:`loopwright.llm.embeddings`) as a servable model.

    >>> model = BundledEmbeddings()
    >>> model.predict(["a sentence"]).shape, model.count_tokens(["a sentence"])
    ((1, 384), [4])
    """

    task = "embeddings"
    # two batches in flight (the encoder is thread-safe): a request arriving while a batch runs starts
    # on the other core instead of waiting for that batch, which was most of the c16 p99
    batch_concurrency = 2
    signature = None
    has_proba = False
    flavor = None
    version = None

    def __init__(self) -> None:
        from loopwright.llm import embeddings

        self._embeddings = embeddings
        self.name = embeddings.MODEL_NAME
        self.uri = BUNDLED_SCHEME + embeddings.MODEL_NAME

    def predict(self, data: Any, validate: bool = True) -> np.ndarray:
        # records (a DataFrame) from /predict or /invocations: one column of texts, else refused;
        # iterating a frame would embed its column names
        if isinstance(data, pd.DataFrame):
            if data.shape[1] != 1:
                raise InvalidInput(
                    f"{self.name} embeds texts: send strings, not records with {list(data.columns)}"
                )
            data = data.iloc[:, 0]
        return self._embeddings.embed(list(data))  # embed refuses anything but strings

    def predict_proba(self, data: Any, validate: bool = True) -> Any:
        raise InvalidInput(f"{self.name} is an embedding model: it has no predict_proba")

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Word pieces per text, [CLS] and [SEP] included, as the model sees them (cut at 256)."""
        tokenizer = self._embeddings.load().tokenizer
        return [len(e.ids) for e in tokenizer.encode_batch(list(texts))]

    def warm_up(self) -> None:
        self.predict(["warm up"])

    def own_process(self) -> None:
        """In a server's own process: two one-thread forward passes side by side (a batch is halved).
        The batcher runs one batch at a time; torch's intra-op threads spinning on an oversubscribed
        2-core machine made one sentence take 360 ms instead of 48 ms (measured for bench/embeddings.py),
        while two halves on their own threads meet once per batch."""
        self._embeddings.load().own_process(2)


def is_bundled(spec: str) -> bool:
    """Whether a model spec names a bundled model (``bundled:all-MiniLM-L6-v2``)."""
    return spec.startswith(BUNDLED_SCHEME)


def bundled_name(spec: str) -> str:
    """The model name of ``bundled:NAME``; an unknown name is an :class:`InvalidInput` naming the known one.

    >>> bundled_name("bundled:all-MiniLM-L6-v2")
    'all-MiniLM-L6-v2'
    """
    name = spec[len(BUNDLED_SCHEME) :]
    if name != BUNDLED_EMBEDDINGS:
        raise InvalidInput(f"unknown bundled model {name!r}; bundled: {BUNDLED_SCHEME}{BUNDLED_EMBEDDINGS}")
    return name


def bundled_model(spec: str) -> BundledEmbeddings:
    """The bundled model ``spec`` names (loaded on first use)."""
    bundled_name(spec)
    return BundledEmbeddings()


def task_of(model: Any) -> str | None:
    """``"embeddings"``, ``"chat"`` or ``None``: the model's ``task`` attribute or manifest metadata."""
    task = getattr(model, "task", None)
    if task is None:
        task = (getattr(model, "metadata", None) or {}).get("task")
    return task if task in TASKS else None


def count_words(texts: Sequence[str]) -> list[int]:
    """Token counts of a model that does not count its own: whitespace-separated words."""
    return [len(t.split()) for t in texts]


# -- requests -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class EmbeddingsRequest:
    model: str
    texts: list[str]
    base64: bool


@dataclass(frozen=True)
class ChatRequest:
    model: str
    payload: dict[str, Any]  # what the chat model's predict gets for this request


def _model_field(doc: Any) -> str:
    if not isinstance(doc, dict):
        raise InvalidInput("the body must be a JSON object")
    model = doc.get("model")
    if not isinstance(model, str) or not model:
        raise InvalidInput("'model' is required: the name of a served model (GET /v1/models lists them)")
    return model


def parse_embeddings(doc: Any) -> EmbeddingsRequest:
    """Validate an embeddings request body (texts only: token-id arrays are refused)."""
    model = _model_field(doc)
    given = doc.get("input")
    texts = [given] if isinstance(given, str) else given
    if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
        raise InvalidInput(
            "'input' must be a string or a non-empty list of strings (token arrays are not taken)"
        )
    if len(texts) > MAX_INPUTS:
        raise InvalidInput(f"'input' has {len(texts)} texts; at most {MAX_INPUTS} per request")
    encoding = doc.get("encoding_format", "float")
    if encoding not in ("float", "base64"):
        raise InvalidInput(f"'encoding_format' must be 'float' or 'base64', got {encoding!r}")
    if doc.get("dimensions") is not None:
        raise InvalidInput("'dimensions' is not supported: the model's vectors have a fixed size")
    return EmbeddingsRequest(model, texts, encoding == "base64")


def parse_chat(doc: Any) -> ChatRequest:
    """Validate a chat-completions request body; ``stream`` and ``n > 1`` are refused."""
    model = _model_field(doc)
    messages = doc.get("messages")
    if not isinstance(messages, list) or not messages:
        raise InvalidInput("'messages' must be a non-empty list of {role, content} objects")
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or not isinstance(m.get("role"), str) or "content" not in m:
            raise InvalidInput(f"messages[{i}] must be an object with 'role' and 'content'")
    if doc.get("stream"):
        raise InvalidInput("'stream' is not supported: ask without it")
    if doc.get("n", 1) != 1:
        raise InvalidInput("'n' must be 1")
    payload = {k: v for k, v in doc.items() if k != "model"}
    return ChatRequest(model, payload)


# -- responses ------------------------------------------------------------------------------------
def embeddings_body(model: str, vectors: np.ndarray, prompt_tokens: int, as_base64: bool) -> bytes:
    """An OpenAI ``list`` of ``embedding`` objects (base64: little-endian float32 bytes, as OpenAI sends)."""
    rows = vectors.astype("<f4", copy=False)
    data = [
        {
            "object": "embedding",
            "index": i,
            "embedding": base64.b64encode(row.tobytes()).decode() if as_base64 else row,
        }
        for i, row in enumerate(rows)
    ]
    usage = {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens}
    return orjson.dumps(
        {"object": "list", "data": data, "model": model, "usage": usage}, option=orjson.OPT_SERIALIZE_NUMPY
    )


def chat_body(model: str, request: ChatRequest, answer: Any) -> bytes:
    """An OpenAI ``chat.completion`` from a chat model's answer (text, or a dict with ``content``)."""
    if isinstance(answer, np.generic):
        answer = answer.item()
    if isinstance(answer, str):
        answer = {"content": answer}
    if not isinstance(answer, dict) or not isinstance(answer.get("content"), str):
        raise HttpError(
            502, f"chat model {model!r} answered {type(answer).__name__}, not text or {{'content': text}}"
        )
    usage = answer.get("usage")
    if not isinstance(usage, dict):
        prompt = sum(count_words([str(m["content"])])[0] for m in request.payload["messages"])
        completion = count_words([answer["content"]])[0]
        usage = {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        }
    choice = {
        "index": 0,
        "message": {"role": "assistant", "content": answer["content"]},
        "finish_reason": answer.get("finish_reason", "stop"),
        "logprobs": None,
    }
    return orjson.dumps(
        {
            "id": f"chatcmpl-{uuid.uuid4().hex}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [choice],
            "usage": usage,
        }
    )


def models_body(served: list[tuple[str, str]]) -> bytes:
    """``GET /v1/models``: ``(name, task)`` pairs as OpenAI ``model`` objects."""
    return orjson.dumps(
        {
            "object": "list",
            "data": [
                {"id": name, "object": "model", "created": 0, "owned_by": "loopwright", "task": task}
                for name, task in served
            ],
        }
    )


def openai_error_body(error: BaseException, request_id: str) -> tuple[int, bytes]:
    """Status and OpenAI-shaped error body; 500s never carry the exception text."""
    status = status_of(error)
    if status == 422:  # OpenAI answers every invalid request with 400 (its clients' BadRequestError)
        status = 400
    if status == 500:
        message = (
            f"the model failed on this request; the server log has details under request id {request_id}"
        )
        kind, code = "server_error", None
    else:
        message = error.message if isinstance(error, HttpError) else str(error)
        default = ("server_error", None) if status >= 500 else ("invalid_request_error", None)
        kind, code = _ERROR_TYPES.get(status, default)
    body = {"error": {"message": message, "type": kind, "param": None, "code": code}}
    return status, orjson.dumps(body)
