"""Experiment tracking: runs, params, metrics, tags, datasets and artifacts."""

from loopwright.tracking.client import Client, get_client, reset_clients
from loopwright.tracking.fluent import ActiveRun

__all__ = ["ActiveRun", "Client", "get_client", "reset_clients"]
