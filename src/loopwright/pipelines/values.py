"""How a step's value is stored and loaded: bytes through a materialiser, or a model package.

Data goes through :mod:`~loopwright.pipelines.materializers` (user-registered first, then
pandas/polars/numpy/JSON). A value no materialiser takes but a model flavor recognises
(scikit-learn, XGBoost, LightGBM, ONNX, torch, Keras, pyfunc) becomes a model package with
:func:`loopwright.log_model` in the step's tracking run, so ``runs:/STEP_RUN/outputs/<node>`` is
a package ``lw.register_model`` accepts. Its digest is the package manifest's digest; loading goes
through :func:`loopwright.models.load_model_from_manifest` (every file verified) and hands the
next step the native object.
"""

from __future__ import annotations

from typing import Any

from loopwright.artifacts import BlobStore
from loopwright.errors import InvalidInput
from loopwright.models import load_model_from_manifest, log_model
from loopwright.models.flavors import detect_flavor
from loopwright.pipelines.materializers import get_materializer, materializer_for

MODEL = "model"


def is_model(value: Any) -> bool:
    """Whether a model flavor can package ``value`` (and no data materialiser claims it)."""
    try:
        materializer_for(value)
    except InvalidInput:
        return detect_flavor(value) is not None
    return False


def log_value_model(value: Any, run_id: str, path: str) -> str:
    """Package ``value`` as a model at ``path`` in run ``run_id``; return the manifest digest."""
    return log_model(value, path, run_id=run_id).manifest_digest


def load_value(digest: str, materializer: str, blobs: BlobStore) -> Any:
    """The value stored under ``digest`` (verified), as the materialiser or the model package gives it."""
    if materializer == MODEL:
        return load_model_from_manifest(digest).native
    return get_materializer(materializer).loads(blobs.get_bytes(digest))


__all__ = ["MODEL", "is_model", "load_value", "log_value_model"]
