"""The model registry: versions, aliases (champion/challenger), audit log and lineage."""

from loopwright.registry.client import RegistryClient
from loopwright.registry.lineage import Lineage

__all__ = ["Lineage", "RegistryClient"]
