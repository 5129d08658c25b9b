"""Where served models come from: registry aliases resolved, versions loaded and warmed.

Examples
--------
>>> from loopwright.uris import parse_model_uri
>>> endpoint_name(parse_model_uri("models:/churn@champion")), endpoint_name(parse_model_uri("runs:/0123abcd/model"))
('churn', 'model')
"""

from __future__ import annotations

from loopwright.models import load_model
from loopwright.registry.client import RegistryClient
from loopwright.serving.types import ModelLike
from loopwright.tracking.client import Client
from loopwright.uris import ModelUri


def endpoint_name(uri: ModelUri) -> str:
    """The endpoint (and OIP model) name a lone URI gets: the registered model's name."""
    return uri.name or "model"


class ModelSource:
    """Resolves aliases through the registry and loads model versions for serving.

    Parameters
    ----------
    prefer_onnx:
        Serve a package's ONNX variant when it has one.
    allow_pickle:
        Passed to ``load_model`` (``None``: ``LOOPWRIGHT_ALLOW_PICKLE`` decides).
    client:
        Store and blobs to resolve and load from (default: the environment's).
    """

    def __init__(
        self, prefer_onnx: bool = False, allow_pickle: bool | None = None, client: Client | None = None
    ):
        self.prefer_onnx = prefer_onnx
        self.allow_pickle = allow_pickle
        self._client = client

    def current_version(self, uri: ModelUri) -> int | None:
        """The version ``uri`` names right now (aliases asked from the registry; runs: ``None``)."""
        if uri.alias is not None:
            assert uri.name is not None
            return RegistryClient(self._client).get_model_version_by_alias(uri.name, uri.alias).version
        return uri.version

    def load(self, uri: ModelUri, version: int | None) -> ModelLike:
        """Load (digest-verified) and warm one model version."""
        pinned = f"models:/{uri.name}/{version}" if uri.name is not None else str(uri)
        model: ModelLike = load_model(pinned, allow_pickle=self.allow_pickle, prefer_onnx=self.prefer_onnx)
        model.warm_up()
        return model
