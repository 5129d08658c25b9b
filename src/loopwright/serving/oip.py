"""Open Inference Protocol v2 (KServe, MLServer, Triton): tensors in, tensors out, metadata.

Examples
--------
>>> import numpy as np
>>> encode_infer(np.array([0, 1]), "churn", "3", "r1")["outputs"]
[{'name': 'predict', 'datatype': 'INT64', 'shape': [2], 'data': array([0, 1])}]
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from itertools import chain
from typing import Any

import numpy as np
import orjson
import pandas as pd

from loopwright.errors import InvalidInput
from loopwright.serving.inputs import InputSchema, ModelInput, describe_value, encode_output

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
        name = tensor_name(t)
        shape = t.get("shape")
        if shape is not None and (
            not isinstance(shape, list) or not all(type(s) is int and s >= 0 for s in shape)
        ):
            raise InvalidInput(f"input {name!r}: shape must be a list of sizes (integers ≥ 0)")
    if schema.kind == "dataframe":
        by_name = {t["name"]: t for t in tensors}
        if len(tensors) == 1 and tensors[0]["name"] not in schema.names:
            t = tensors[0]
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
            columns[column.name] = _column_values(t)
        return schema.from_columns(columns)
    if len(tensors) == 1:
        t = tensors[0]
        return schema.from_tensor(t["data"], t.get("shape"))
    if schema.kind is None:
        return schema.from_columns({t["name"]: _column_values(t) for t in tensors})
    raise InvalidInput(f"this model takes one input tensor, got {len(tensors)}")


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


def encode_infer(output: Any, model_name: str, version: str, response_id: str) -> dict[str, Any]:
    """Model output → inference response body (data flattened row-major, as the spec shows)."""
    if isinstance(output, pd.DataFrame):
        outputs = [
            {
                "name": str(c),
                "datatype": datatype_of(output[c].dtype) if output[c].dtype.kind in "fiub" else "BYTES",
                "shape": [len(output)],
                "data": encode_output(output[c].to_numpy()),
            }
            for c in output.columns
        ]
    else:
        arr = output if isinstance(output, np.ndarray) else np.asarray(output)
        numeric = arr.dtype.kind in "fiub"
        outputs = [
            {
                "name": "predict",
                "datatype": datatype_of(arr.dtype) if numeric else "BYTES",
                "shape": list(arr.shape),
                "data": encode_output(arr.ravel()) if numeric else [str(v) for v in arr.ravel().tolist()],
            }
        ]
    return {"model_name": model_name, "model_version": version, "id": response_id, "outputs": outputs}


def model_metadata(name: str, versions: list[str], schema: InputSchema, flavor: str | None) -> dict[str, Any]:
    """``GET /v2/models/{name}``: inputs from the signature."""
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
