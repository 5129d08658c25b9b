"""The model registry: versions, aliases (champion/challenger), audit log and lineage."""

from loopwright.registry.client import RegistryClient
from loopwright.registry.lineage import Lineage
from loopwright.registry.uris import ModelUri, RunUri, parse_model_uri, parse_run_uri

__all__ = ["Lineage", "ModelUri", "RegistryClient", "RunUri", "parse_model_uri", "parse_run_uri"]
