"""Compatibility with other MLOps tools: importers and API shims (see docs/DESIGN.md)."""
