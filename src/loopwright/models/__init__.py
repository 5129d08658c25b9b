"""Model packages: log a trained model as a verifiable package, load it back anywhere.

See :func:`log_model`, :func:`load_model`, :class:`Signature` and the flavors in
:mod:`loopwright.models.flavors`.
"""

from loopwright.models.flavors import PyfuncContext, PythonModel
from loopwright.models.loaded import LoadedModel
from loopwright.models.loading import load_model, load_model_from_manifest, read_manifest
from loopwright.models.package import ModelInfo, convert_to_onnx, log_model
from loopwright.models.signature import ColumnSpec, Signature, TensorSpec, infer_signature
from loopwright.uris import ModelUri, parse_model_uri

__all__ = [
    "ColumnSpec",
    "LoadedModel",
    "ModelInfo",
    "ModelUri",
    "PyfuncContext",
    "PythonModel",
    "Signature",
    "TensorSpec",
    "convert_to_onnx",
    "infer_signature",
    "load_model",
    "load_model_from_manifest",
    "log_model",
    "parse_model_uri",
    "read_manifest",
]
