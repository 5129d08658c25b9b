"""Integrations with other systems: Kubernetes (manifests, container image), Spark (batch scoring)."""
