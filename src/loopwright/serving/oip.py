"""Open Inference Protocol v2 (KServe, MLServer, Triton): tensors in, tensors out, metadata.

Examples
--------
>>> import numpy as np
>>> body, headers = encode_infer(np.array([0, 1]), "churn", "3", "r1")
>>> orjson.loads(body)["outputs"]
[{'name': 'predict', 'datatype': 'INT64', 'shape': [2], 'parameters': {}, 'data': [0, 1]}]
>>> asked = output_request({"outputs": [{"name": "predict", "parameters": {"binary_data": True}}]})
>>> body, headers = encode_infer(np.array([0, 1]), "churn", "3", "r1", asked)
>>> headers
[(b'inference-header-content-length', b'167')]
>>> np.frombuffer(body[167:], "<i8").tolist()
[0, 1]
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from itertools import chain
from typing import Any

import numpy as np
import orjson
import pandas as pd

from loopwright.errors import InvalidInput
from loopwright.serving.inputs import NUMERIC, InputSchema, ModelInput, describe_value, encode_output
from loopwright.serving.responses import dumps

#: ``GET /v2`` ``extensions``: Triton's binary tensor data extension (binary inputs and outputs) and
#: the parameters extension (``parameters`` on requests, tensors and responses)
EXTENSIONS = ["binary_tensor_data", "parameters"]

DATATYPES = {
    "float64": "FP64",
    "float32": "FP32",
    "float16": "FP16",
    "int64": "INT64",
    "int32": "INT32",
    "int16": "INT16",
    "int8": "INT8",
    "uint64": "UINT64",
    "uint32": "UINT32",
    "uint16": "UINT16",
    "uint8": "UINT8",
    "bool": "BOOL",
    "string": "BYTES",
    "str": "BYTES",
    "category": "BYTES",
    "datetime": "BYTES",
}


def datatype_of(dtype: Any) -> str:
    """OIP datatype name of a numpy dtype or signature dtype name."""
    name = dtype if isinstance(dtype, str) else np.dtype(dtype).name
    return DATATYPES.get(name, "BYTES")


BINARY_DTYPES = {
    "FP64": "<f8",
    "FP32": "<f4",
    "FP16": "<f2",
    "INT64": "<i8",
    "INT32": "<i4",
    "INT16": "<i2",
    "INT8": "i1",
    "UINT64": "<u8",
    "UINT32": "<u4",
    "UINT16": "<u2",
    "UINT8": "u1",
    "BOOL": "?",
}


OIP_DATATYPES = frozenset(BINARY_DTYPES) | {"BYTES"}
_INT_RANGES = {
    name: (int(np.iinfo(dtype).min), int(np.iinfo(dtype).max))
    for name, dtype in BINARY_DTYPES.items()
    if name.startswith(("INT", "UINT"))
}


class TensorError(InvalidInput):
    """A tensor of an inference request contradicts the protocol: an unknown ``datatype``, data that is
    not of its declared datatype, a ``shape`` its data does not fill, a malformed ``outputs`` (HTTP 400)."""

    http_status = 400


def split_binary(body: bytes, header_length: int) -> Any:
    """Binary tensor extension (Triton clients send it by default): a JSON header, then raw tensors.

    Inputs whose ``parameters.binary_data_size`` is set get their ``data`` from the bytes after the
    header, in input order (little-endian; ``BYTES`` elements are 4-byte-length prefixed).
    """
    if header_length < 0 or header_length > len(body):
        raise InvalidInput(
            f"Inference-Header-Content-Length must be a byte count within the {len(body)}-byte body"
        )
    try:
        doc = orjson.loads(body[:header_length])
    except orjson.JSONDecodeError as error:
        raise JsonError(f"malformed JSON header: {error}") from None
    if not isinstance(doc, dict):
        raise InvalidInput(f"the inference header must be a JSON object, got {describe_value(doc)}")
    tensors = doc.get("inputs", [])
    if not isinstance(tensors, list):
        raise InvalidInput(f'"inputs" must be a list of tensors, got {describe_value(tensors)}')
    offset = header_length
    for t in tensors:
        if not isinstance(t, dict):
            continue  # decode_infer names it
        name = tensor_name(t)
        parameters = t.get("parameters")
        if parameters is None:
            continue
        if not isinstance(parameters, dict):
            raise InvalidInput(
                f"input {name!r}: parameters must be an object, got {describe_value(parameters)}"
            )
        size = parameters.get("binary_data_size")
        if size is None:
            continue
        if type(size) is not int or size < 0 or offset + size > len(body):
            raise InvalidInput(
                f"input {name!r}: binary_data_size must be a byte count within the body's "
                f"{len(body) - offset} remaining bytes, got {describe_value(size)}"
            )
        chunk = body[offset : offset + size]
        offset += size
        datatype = t.get("datatype")
        if datatype == "BYTES":
            t["data"] = _binary_strings(chunk, name)
        elif isinstance(datatype, str) and datatype in BINARY_DTYPES:
            dtype = np.dtype(BINARY_DTYPES[datatype])
            if size % dtype.itemsize:
                raise InvalidInput(
                    f"input {name!r}: binary_data_size {size} is not a whole number of {datatype} "
                    f"values ({dtype.itemsize} bytes each)"
                )
            t["data"] = np.frombuffer(chunk, dtype=dtype).tolist()
        else:
            raise InvalidInput(f"input {name!r}: unsupported datatype {describe_value(datatype)}")
    return doc


def tensor_name(tensor: Mapping[str, Any]) -> str:
    """An input tensor's ``name``, which must be a string (it is matched against column names)."""
    name = tensor.get("name")
    if not isinstance(name, str):
        raise InvalidInput(f'each input tensor needs a string "name", got {describe_value(name)}')
    return name


def _binary_strings(chunk: bytes, name: Any) -> list[str]:
    out, i = [], 0
    while i < len(chunk):
        if i + 4 > len(chunk):
            raise InvalidInput(f"input {name!r}: truncated BYTES element")
        n = int.from_bytes(chunk[i : i + 4], "little")
        out.append(chunk[i + 4 : i + 4 + n].decode("utf-8", errors="replace"))
        i += 4 + n
    return out


class JsonError(InvalidInput):
    """The JSON part of a request does not parse (HTTP 400)."""

    http_status = 400


def decode_infer(doc: Any, schema: InputSchema) -> ModelInput:
    """An inference request body → validated model input.

    Dataframe signatures take one input tensor per column (shape ``[N]`` or ``[N, 1]``), or one
    ``[N, columns]`` matrix in signature order; tensor signatures take one tensor.
    """
    tensors = doc.get("inputs") if isinstance(doc, Mapping) else None
    if not isinstance(tensors, list) or not tensors:
        raise InvalidInput('"inputs" must be a non-empty list of tensors {name, shape, datatype, data}')
    for t in tensors:
        if not isinstance(t, Mapping) or "name" not in t or "data" not in t:
            raise InvalidInput('each input tensor needs "name", "shape", "datatype" and "data"')
        _check_tensor(t, tensor_name(t))
    if schema.kind == "dataframe":
        by_name = {t["name"]: t for t in tensors}
        if len(tensors) == 1 and tensors[0]["name"] not in schema.names:
            t = tensors[0]
            if schema.numeric and t["datatype"] == "BYTES":
                raise TensorError(f"input {t['name']!r}: datatype BYTES, but the model's inputs are numeric")
            return schema.from_tensor(t["data"], t.get("shape"))
        unknown = [t["name"] for t in tensors if t["name"] not in schema.names]
        if unknown:
            expected = ", ".join(f"{c.name}: {datatype_of(c.dtype)}" for c in schema.columns)
            raise InvalidInput(
                f"unknown input {unknown[0]!r}: the model's signature has no such column (it expects "
                f"one input per column, {expected}, or one [-1, {len(schema.names)}] matrix)"
            )
        columns = {}
        for column in schema.columns:
            t = by_name.get(column.name)
            if t is None:
                raise InvalidInput(
                    f"missing input {column.name!r} (expects {datatype_of(column.dtype)}, shape [-1])"
                )
            _check_fits(t, datatype_of(column.dtype), column.dtype in NUMERIC)
            shape = t["shape"]
            if len(shape) not in (1, 2) or (len(shape) == 2 and shape[1] != 1):
                raise TensorError(f"input {column.name!r}: a column takes shape [N] or [N, 1], got {shape}")
            columns[column.name] = _column_values(t)
        rows = {len(v) for v in columns.values()}
        if len(rows) > 1:
            counts = {name: len(v) for name, v in columns.items()}
            raise TensorError(f"the input tensors must have the same number of rows, got {counts}")
        return schema.from_columns(columns)
    if len(tensors) == 1:
        t = tensors[0]
        if schema.kind == "tensor":
            _check_fits(t, datatype_of(schema.tensor.dtype), schema.array_dtype.kind in "fiub")
        return schema.from_tensor(t["data"], t.get("shape"))
    if schema.kind is None:
        return schema.from_columns({t["name"]: _column_values(t) for t in tensors})
    raise InvalidInput(f"this model takes one input tensor, got {len(tensors)}")


def _check_tensor(tensor: Mapping[str, Any], name: str) -> None:
    """The protocol's own rules for one input tensor: a known ``datatype``, a ``shape`` of sizes that
    its data fills, and data that is of that datatype (checked before any column or signature rule)."""
    datatype = tensor.get("datatype")
    if not isinstance(datatype, str) or datatype not in OIP_DATATYPES:
        raise TensorError(
            f"input {name!r}: datatype must be one of {', '.join(sorted(OIP_DATATYPES))}, "
            f"got {describe_value(datatype)}"
        )
    shape = tensor.get("shape")
    if not isinstance(shape, list) or not all(type(s) is int and s >= 0 for s in shape):
        raise TensorError(f"input {name!r}: shape must be a list of sizes (integers ≥ 0), got {shape!r}")
    data = tensor["data"]
    if not isinstance(data, list):
        raise TensorError(f"input {name!r}: data must be a list, got {describe_value(data)}")
    values = data
    while values and type(values[0]) is list:  # nested row-major data
        if not all(type(v) is list for v in values):
            raise TensorError(f"input {name!r}: data mixes nested lists and single values")
        values = list(chain.from_iterable(values))
    if math.prod(shape) != len(values):
        raise TensorError(f"input {name!r}: shape {shape} needs {math.prod(shape)} values, got {len(values)}")
    _check_values(values, datatype, name)


def _check_values(values: list[Any], datatype: str, name: str) -> None:
    """Every value is of ``datatype``: whole numbers in range for INT/UINT, numbers for FP (null is
    left to the column's NaN rule), booleans for BOOL, strings for BYTES."""
    types = set(map(type, values))
    if datatype == "BYTES":
        allowed: set[type] = {str}
    elif datatype == "BOOL":
        allowed = {bool}
    elif datatype.startswith("FP"):
        allowed = {float, int, type(None)}
    else:
        allowed = {int}
    if types <= allowed:
        if datatype in _INT_RANGES and values:
            low, high = _INT_RANGES[datatype]
            if min(values) < low or max(values) > high:
                culprit = next(v for v in values if not low <= v <= high)
                raise TensorError(f"input {name!r}: {datatype} holds [{low}, {high}], got {culprit}")
        return
    culprit = next(v for v in values if type(v) not in allowed)
    raise TensorError(f"input {name!r}: datatype {datatype} cannot hold {describe_value(culprit)}")


def _check_fits(tensor: Mapping[str, Any], expected: str, numeric: bool) -> None:
    """A tensor's declared datatype suits the model input it feeds: text for text, numbers for numbers
    (numeric kinds may differ: the column's own check then rules on each value)."""
    if (tensor["datatype"] == "BYTES") == numeric:
        raise TensorError(
            f"input {tensor['name']!r}: datatype {tensor['datatype']} does not fit the model's "
            f"{expected} input"
        )


def _column_values(tensor: Mapping[str, Any]) -> list[Any]:
    data = tensor["data"]
    if not isinstance(data, list):
        raise InvalidInput(f"input {tensor['name']!r}: data must be a list")
    if data and isinstance(data[0], list):  # rows of an [N, 1] tensor
        if not all(type(row) is list for row in data):
            raise InvalidInput(f"input {tensor['name']!r}: data mixes rows (lists) and single values")
        data = list(chain.from_iterable(data))
    shape = tensor.get("shape")
    if shape and math.prod(shape) != len(data):
        raise InvalidInput(f"input {tensor['name']!r}: shape {shape} does not match {len(data)} values")
    return data


@dataclass(frozen=True)
class RequestedOutput:
    """One entry of a request's ``outputs``: the tensor's name and whether it goes back as binary data."""

    name: str
    binary: bool


@dataclass(frozen=True)
class OutputRequest:
    """What an inference request asks back: named outputs (``None``: every output the model predicts)
    and the request-wide ``binary_data_output`` default."""

    outputs: tuple[RequestedOutput, ...] | None = None
    binary: bool = False

    @property
    def names(self) -> list[str]:
        return [o.name for o in self.outputs or ()]


EVERY_OUTPUT = OutputRequest()


def output_request(doc: Any) -> OutputRequest:
    """The ``outputs`` and ``parameters.binary_data_output`` of an inference request, type-checked.

    >>> output_request({"outputs": [{"name": "predict_proba"}], "parameters": {"binary_data_output": True}})
    OutputRequest(outputs=(RequestedOutput(name='predict_proba', binary=True),), binary=True)
    """
    parameters = doc.get("parameters", {}) if isinstance(doc, Mapping) else {}
    if not isinstance(parameters, Mapping):
        raise TensorError(f"parameters must be an object, got {describe_value(parameters)}")
    binary = parameters.get("binary_data_output", False)
    if type(binary) is not bool:
        raise TensorError(f"parameters.binary_data_output must be a boolean, got {describe_value(binary)}")
    given = doc.get("outputs") if isinstance(doc, Mapping) else None
    if given is None:
        return OutputRequest(None, binary)
    if not isinstance(given, list):
        raise TensorError(f'"outputs" must be a list of {{"name": ...}} objects, got {describe_value(given)}')
    outputs: list[RequestedOutput] = []
    for o in given:
        name = o.get("name") if isinstance(o, Mapping) else None
        if not isinstance(name, str):
            raise TensorError(f'each requested output needs a string "name", got {describe_value(o)}')
        params = o.get("parameters", {})
        if not isinstance(params, Mapping):
            raise TensorError(f"output {name!r}: parameters must be an object, got {describe_value(params)}")
        own = params.get("binary_data", binary)
        if type(own) is not bool:
            raise TensorError(
                f"output {name!r}: parameters.binary_data must be a boolean, got {describe_value(own)}"
            )
        if name in {r.name for r in outputs}:
            raise TensorError(f"output {name!r} is requested twice")
        outputs.append(RequestedOutput(name, own))
    return OutputRequest(tuple(outputs), binary)


def output_tensors(output: Any) -> dict[str, np.ndarray]:
    """A model's answer as named output tensors: ``predict`` for one array, one per column of a
    DataFrame or key of a dict (several outputs), ``output_0``, ``output_1``, … for a list of arrays."""
    if isinstance(output, pd.DataFrame):
        return {str(c): output[c].to_numpy() for c in output.columns}
    if isinstance(output, Mapping):
        return {str(k): np.asarray(v) for k, v in output.items()}
    if isinstance(output, list) and output and all(isinstance(o, np.ndarray) for o in output):
        return {f"output_{i}": o for i, o in enumerate(output)}
    return {"predict": output if isinstance(output, np.ndarray) else np.asarray(output)}


def encode_infer(
    output: Any,
    model_name: str,
    version: str,
    response_id: str,
    request: OutputRequest = EVERY_OUTPUT,
    extra: Mapping[str, np.ndarray] | None = None,
) -> tuple[bytes, list[tuple[bytes, bytes]]]:
    """Model output → inference response body and its extra headers.

    Every output tensor, or those ``request`` names (``extra`` holds outputs computed besides
    ``predict``, e.g. ``predict_proba``); data row-major. Outputs asked as binary (the binary tensor
    data extension) carry ``parameters.binary_data_size`` instead of ``data`` and follow the JSON
    header, whose length the ``Inference-Header-Content-Length`` header gives.
    """
    tensors = {**output_tensors(output), **(extra or {})}
    if request.outputs is None:
        wanted = [RequestedOutput(name, request.binary) for name in output_tensors(output)]
    else:
        wanted = list(request.outputs)
        missing = [o.name for o in wanted if o.name not in tensors]
        if missing:
            raise TensorError(f"unknown output {missing[0]!r}: the model's outputs are {sorted(tensors)}")
    outputs, chunks = [], []
    for o in wanted:
        arr = tensors[o.name]
        datatype = datatype_of(arr.dtype) if arr.dtype.kind in "fiub" else "BYTES"
        tensor: dict[str, Any] = {"name": o.name, "datatype": datatype, "shape": list(arr.shape)}
        if o.binary:
            chunk = _binary_tensor(arr, datatype)
            tensor["parameters"] = {"binary_data_size": len(chunk)}
            chunks.append(chunk)
        else:
            tensor["parameters"] = {}
            flat = arr.ravel()
            tensor["data"] = encode_output(flat) if datatype != "BYTES" else [str(v) for v in flat.tolist()]
        outputs.append(tensor)
    header = dumps(
        {
            "model_name": model_name,
            "model_version": version,
            "id": response_id,
            "parameters": {},
            "outputs": outputs,
        }
    )
    if not chunks:
        return header, []
    return b"".join([header, *chunks]), [(b"inference-header-content-length", str(len(header)).encode())]


def _binary_tensor(arr: np.ndarray, datatype: str) -> bytes:
    """Raw row-major little-endian bytes; ``BYTES`` elements as 4-byte length + UTF-8."""
    if datatype == "BYTES":
        encoded = [str(v).encode() for v in arr.ravel().tolist()]
        return b"".join(len(e).to_bytes(4, "little") + e for e in encoded)
    return np.ascontiguousarray(arr, dtype=BINARY_DTYPES[datatype]).tobytes()


def model_metadata(
    name: str, versions: list[str], schema: InputSchema, flavor: str | None, classes: int | None = None
) -> dict[str, Any]:
    """``GET /v2/models/{name}``: inputs and outputs from the signature; ``predict_proba`` (``[-1,
    classes]``) too when ``classes`` is given (``-1``: a model with probabilities but no class list)."""
    if schema.kind == "dataframe":
        inputs = [{"name": c.name, "datatype": datatype_of(c.dtype), "shape": [-1]} for c in schema.columns]
    elif schema.kind == "tensor":
        inputs = [
            {
                "name": "input",
                "datatype": datatype_of(schema.tensor.dtype),
                "shape": [-1 if s is None else int(s) for s in schema.tensor.shape],
            }
        ]
    else:
        inputs = []
    outputs = _outputs_of(schema.signature)
    if classes is not None:
        outputs.append({"name": "predict_proba", "datatype": "FP64", "shape": [-1, classes]})
    return {
        "name": name,
        "versions": versions,
        "platform": f"loopwright-{flavor or 'python'}",
        "inputs": inputs,
        "outputs": outputs,
    }


def _outputs_of(signature: Any) -> list[dict[str, Any]]:
    spec = getattr(signature, "outputs", None)
    if not spec:
        return [{"name": "predict", "datatype": "BYTES", "shape": [-1]}]
    if isinstance(spec, list | tuple):
        return [
            {
                "name": getattr(c, "name", "predict") or "predict",
                "datatype": datatype_of(c.dtype),
                "shape": [-1],
            }
            for c in spec
        ]
    return [
        {
            "name": "predict",
            "datatype": datatype_of(spec.dtype),
            "shape": [-1 if s is None else int(s) for s in getattr(spec, "shape", [-1])],
        }
    ]
