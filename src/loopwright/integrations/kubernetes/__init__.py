"""Deploying a Loopwright model server: a Dockerfile and Kubernetes manifests."""

from loopwright.integrations.kubernetes.image import ImageBuild, build_image, dockerfile
from loopwright.integrations.kubernetes.manifests import k8s_manifests, to_yaml, write_manifests

__all__ = ["ImageBuild", "build_image", "dockerfile", "k8s_manifests", "to_yaml", "write_manifests"]
