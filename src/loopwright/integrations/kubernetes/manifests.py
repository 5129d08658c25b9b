"""Kubernetes manifests for a model server: Deployment, Service, HorizontalPodAutoscaler.

Probes use the Open Inference Protocol health routes (``/v2/health/live`` for liveness,
``/v2/health/ready`` for readiness); pods carry the usual Prometheus scrape annotations for
``/metrics``. A deployment YAML (several endpoints) travels in a ConfigMap mounted into the pod.

Pods meet the *restricted* Pod Security Standard: non-root (UID 10001, the image's user), no
privilege escalation, every capability dropped, the runtime's default seccomp profile, a read-only
root file system with ``emptyDir`` volumes at ``/tmp`` (model folders) and ``LOOPWRIGHT_HOME`` (the
prediction-log spool), and no service-account token. The store and artifact URIs (credentials
included) and ``LOOPWRIGHT_TOKEN`` come from a Secret (``envFrom``), never from the manifest.

Examples
--------
>>> docs = k8s_manifests("models:/churn@champion", image="registry.local/churn:1")
>>> [d["kind"] for d in docs]
['Deployment', 'Service', 'HorizontalPodAutoscaler']
>>> container = docs[0]["spec"]["template"]["spec"]["containers"][0]
>>> container["readinessProbe"]["httpGet"]["path"]
'/v2/health/ready'
>>> container["securityContext"]["readOnlyRootFilesystem"], container["securityContext"]["capabilities"]
(True, {'drop': ['ALL']})
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from loopwright.errors import InvalidInput
from loopwright.integrations.kubernetes.image import (
    DEPLOYMENT_FILE,
    HOME_DIR,
    UID,
    default_tag,
    dns_name,
    serve_args,
)

CONFIG_VOLUME = "loopwright-deployment"
SECCOMP = {"type": "RuntimeDefault"}


def k8s_manifests(
    target: str,
    *,
    image: str | None = None,
    name: str | None = None,
    namespace: str | None = None,
    replicas: int = 2,
    port: int = 8080,
    workers: int = 1,
    min_replicas: int = 2,
    max_replicas: int = 10,
    cpu_target: int = 70,
    cpu_request: str = "500m",
    memory_request: str = "512Mi",
    memory_limit: str = "2Gi",
    env_secret: str | None = "loopwright",
) -> list[dict[str, Any]]:
    """The manifests (as dicts) serving ``target`` from ``image``.

    Parameters
    ----------
    target:
        A model URI, or a deployment YAML file (shipped in a ConfigMap).
    image:
        The container image; default: the tag ``loopwright build-image`` gives
        (``loopwright-<endpoint>:latest``).
    name:
        Resource name; default: the first endpoint's name.
    env_secret:
        A Secret whose keys become environment variables (``LOOPWRIGHT_STORE_URI``,
        ``LOOPWRIGHT_ARTIFACT_URI``, ``LOOPWRIGHT_TOKEN``); the pod does not start until it exists
        (without it the server would quietly use an empty SQLite store in its ``emptyDir``).
        ``None`` for none.

    Examples
    --------
    >>> pod = k8s_manifests("models:/churn@champion", image="r/churn:1")[0]["spec"]["template"]["spec"]
    >>> pod["securityContext"]["runAsNonRoot"], pod["securityContext"]["seccompProfile"]
    (True, {'type': 'RuntimeDefault'})
    >>> pod["containers"][0]["envFrom"]
    [{'secretRef': {'name': 'loopwright'}}]
    """
    from loopwright.serving.deployment import Deployment

    if min_replicas < 1 or max_replicas < min_replicas:
        raise InvalidInput("need 1 <= min_replicas <= max_replicas")
    deployment = Deployment.load(target)
    is_file = not target.startswith(("models:/", "runs:/"))
    app = dns_name(name or deployment.endpoints[0].name)
    labels = {"app.kubernetes.io/name": app, "app.kubernetes.io/part-of": "loopwright"}
    meta: dict[str, Any] = {"name": app, "labels": labels}
    if namespace:
        meta["namespace"] = namespace
    serve_target = DEPLOYMENT_FILE if is_file else target
    container: dict[str, Any] = {
        "name": "server",
        "image": image or default_tag(deployment.endpoints[0].name),
        "args": serve_args(serve_target, port, workers),
        "ports": [{"name": "http", "containerPort": port}],
        "livenessProbe": _probe("/v2/health/live", port, period=10, failures=3),
        "readinessProbe": _probe("/v2/health/ready", port, period=5, failures=2),
        "startupProbe": _probe("/v2/health/live", port, period=2, failures=60),
        "resources": {
            "requests": {"cpu": cpu_request, "memory": memory_request},
            "limits": {"memory": memory_limit},
        },
        # the mount below must be where the server spools, whatever the image says
        "env": [{"name": "LOOPWRIGHT_HOME", "value": HOME_DIR}],
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": UID,
            "runAsGroup": UID,
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": dict(SECCOMP),
        },
        "volumeMounts": [
            {"name": "tmp", "mountPath": "/tmp"},
            {"name": "home", "mountPath": HOME_DIR},
        ],
    }
    if env_secret:
        container["envFrom"] = [{"secretRef": {"name": env_secret}}]
    pod: dict[str, Any] = {
        "automountServiceAccountToken": False,  # the server never talks to the Kubernetes API
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": UID,
            "runAsGroup": UID,
            "fsGroup": UID,
            "seccompProfile": dict(SECCOMP),
        },
        "containers": [container],
        "volumes": [
            {"name": "tmp", "emptyDir": {}},
            {"name": "home", "emptyDir": {}},
        ],
        "terminationGracePeriodSeconds": 30,
    }
    docs: list[dict[str, Any]] = []
    if is_file:
        config_meta = {**meta, "name": f"{app}-deployment"}
        docs.append(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": config_meta,
                "data": {"deployment.yaml": Path(target).read_text()},
            }
        )
        container["volumeMounts"].append(
            {"name": CONFIG_VOLUME, "mountPath": str(Path(DEPLOYMENT_FILE).parent), "readOnly": True}
        )
        pod["volumes"].append({"name": CONFIG_VOLUME, "configMap": {"name": config_meta["name"]}})
    docs.append(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": meta,
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": {"app.kubernetes.io/name": app}},
                "template": {
                    "metadata": {
                        "labels": labels,
                        "annotations": {
                            "prometheus.io/scrape": "true",
                            "prometheus.io/port": str(port),
                            "prometheus.io/path": "/metrics",
                        },
                    },
                    "spec": pod,
                },
            },
        }
    )
    docs.append(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": meta,
            "spec": {
                "selector": {"app.kubernetes.io/name": app},
                "ports": [{"name": "http", "port": 80, "targetPort": "http"}],
            },
        }
    )
    docs.append(
        {
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "metadata": meta,
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": app},
                "minReplicas": min_replicas,
                "maxReplicas": max_replicas,
                "metrics": [
                    {
                        "type": "Resource",
                        "resource": {
                            "name": "cpu",
                            "target": {"type": "Utilization", "averageUtilization": cpu_target},
                        },
                    }
                ],
            },
        }
    )
    return docs


def _probe(path: str, port: int, period: int, failures: int) -> dict[str, Any]:
    return {
        "httpGet": {"path": path, "port": port},
        "periodSeconds": period,
        "timeoutSeconds": 2,
        "failureThreshold": failures,
    }


class _PlainDumper(yaml.SafeDumper):
    """No ``&id001`` anchors: kubectl users read these files."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def to_yaml(docs: list[dict[str, Any]]) -> str:
    """Manifests as one multi-document YAML text."""
    return yaml.dump_all(docs, Dumper=_PlainDumper, sort_keys=False)


def write_manifests(docs: list[dict[str, Any]], path: str | Path) -> Path:
    """Write manifests as one multi-document YAML file."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(to_yaml(docs))
    return out
