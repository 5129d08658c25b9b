"""Deploying Loopwright: Dockerfiles, a model server's manifests, and the whole platform (a Kustomize base)."""

from loopwright.integrations.kubernetes.image import ImageBuild, build_image, dockerfile, platform_dockerfile
from loopwright.integrations.kubernetes.manifests import k8s_manifests, to_yaml, write_manifests
from loopwright.integrations.kubernetes.platform_manifests import k8s_platform

__all__ = [
    "ImageBuild",
    "build_image",
    "dockerfile",
    "k8s_manifests",
    "k8s_platform",
    "platform_dockerfile",
    "to_yaml",
    "write_manifests",
]
