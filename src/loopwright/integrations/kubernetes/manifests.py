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
from typing import TYPE_CHECKING, Any

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

if TYPE_CHECKING:
    from loopwright.serving.deployment import Deployment

CONFIG_VOLUME = "loopwright-deployment"
# seconds a stopping server keeps answering (preStop sleep) while it leaves the Service's endpoints
DRAIN_SECONDS = 10
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

    deployment = Deployment.load(target)
    is_file = not target.startswith(("models:/", "runs:/"))
    return inference_manifests(
        deployment,
        Path(target).read_text() if is_file else None,
        serve_target=target,
        image=image,
        name=name,
        namespace=namespace,
        replicas=replicas,
        port=port,
        workers=workers,
        min_replicas=min_replicas,
        max_replicas=max_replicas,
        cpu_target=cpu_target,
        resources={
            "requests": {"cpu": cpu_request, "memory": memory_request},
            "limits": {"memory": memory_limit},
        },
        env_secret=env_secret,
    )


def inference_manifests(
    deployment: Deployment,
    deployment_text: str | None,
    *,
    serve_target: str,
    image: str | None,
    name: str | None,
    namespace: str | None,
    replicas: int,
    port: int,
    workers: int,
    min_replicas: int,
    max_replicas: int,
    cpu_target: int,
    resources: dict[str, Any],
    env_secret: str | None,
    part_of: str = "loopwright",
) -> list[dict[str, Any]]:
    """What :func:`k8s_manifests` writes, for a loaded deployment (``deployment_text``: its YAML, shipped
    in a ConfigMap; ``None`` serves ``serve_target``, a model URI)."""
    if min_replicas < 1 or max_replicas < min_replicas:
        raise InvalidInput("need 1 <= min_replicas <= max_replicas")
    app = dns_name(name or deployment.endpoints[0].name)
    meta = metadata(app, namespace, part_of)
    container = container_spec(
        image or default_tag(deployment.endpoints[0].name),
        serve_args(DEPLOYMENT_FILE if deployment_text is not None else serve_target, port, workers),
        port=port,
        env_secret=env_secret,
        resources=resources,
    )
    container["livenessProbe"] = probe("/v2/health/live", port, period=10, failures=3)
    container["readinessProbe"] = probe("/v2/health/ready", port, period=5, failures=2)
    container["startupProbe"] = probe("/v2/health/live", port, period=2, failures=60)
    pod = pod_spec(container)
    docs: list[dict[str, Any]] = []
    if deployment_text is not None:
        config_meta = {**meta, "name": f"{app}-deployment"}
        docs.append(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": config_meta,
                "data": {"deployment.yaml": deployment_text},
            }
        )
        container["volumeMounts"].append(
            {"name": CONFIG_VOLUME, "mountPath": str(Path(DEPLOYMENT_FILE).parent), "readOnly": True}
        )
        pod["volumes"].append({"name": CONFIG_VOLUME, "configMap": {"name": config_meta["name"]}})
    docs.append(deployment_doc(meta, pod, replicas, scrape_port=port))
    docs.append(service_doc(meta, port))
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


def metadata(app: str, namespace: str | None, part_of: str = "loopwright") -> dict[str, Any]:
    """A resource's name and labels (``app.kubernetes.io/name`` is also every selector's key).

    >>> metadata("churn", "ml")["labels"]["app.kubernetes.io/name"]
    'churn'
    """
    meta: dict[str, Any] = {
        "name": app,
        "labels": {"app.kubernetes.io/name": app, "app.kubernetes.io/part-of": part_of},
    }
    if namespace:
        meta["namespace"] = namespace
    return meta


def container_spec(
    image: str,
    args: list[str],
    *,
    port: int | None,
    env_secret: str | None,
    resources: dict[str, Any],
    drain_seconds: int = DRAIN_SECONDS,
) -> dict[str, Any]:
    """A ``loopwright`` container meeting the restricted profile, writing only to ``/tmp`` and the home.

    With a ``port`` it gets a preStop drain: the pod leaves the Service's endpoints while it still
    answers (``sleep``), then SIGTERM shuts the server down gracefully (requests finish, logs flush).

    >>> c = container_spec("r/lw:1", ["server"], port=5000, env_secret="lw", resources={})
    >>> c["lifecycle"]["preStop"]["exec"]["command"], c["securityContext"]["readOnlyRootFilesystem"]
    (['sleep', '10'], True)
    """
    container: dict[str, Any] = {"name": "loopwright" if port is None else "server", "image": image}
    container["args"] = args
    if port is not None:
        container["ports"] = [{"name": "http", "containerPort": port}]
        # endpoints controllers and load balancers take a few seconds to stop sending new requests
        container["lifecycle"] = {"preStop": {"exec": {"command": ["sleep", str(drain_seconds)]}}}
    container["resources"] = resources
    # the mount below must be where the process spools and caches, whatever the image says
    container["env"] = [{"name": "LOOPWRIGHT_HOME", "value": HOME_DIR}]
    if env_secret:
        container["envFrom"] = [{"secretRef": {"name": env_secret}}]
    container["securityContext"] = {
        "runAsNonRoot": True,
        "runAsUser": UID,
        "runAsGroup": UID,
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": dict(SECCOMP),
    }
    container["volumeMounts"] = [
        {"name": "tmp", "mountPath": "/tmp"},
        {"name": "home", "mountPath": HOME_DIR},
    ]
    return container


def pod_spec(container: dict[str, Any], *, restart_policy: str | None = None) -> dict[str, Any]:
    """The restricted pod around ``container``: non-root, no API token, ``emptyDir`` at its two mounts.

    >>> pod_spec({"name": "c"})["securityContext"]["runAsNonRoot"]
    True
    """
    pod: dict[str, Any] = {
        "automountServiceAccountToken": False,  # Loopwright never talks to the Kubernetes API
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
        # the preStop sleep counts against it: DRAIN_SECONDS, then 20 s for requests in flight
        "terminationGracePeriodSeconds": DRAIN_SECONDS + 20,
    }
    if restart_policy:
        pod["restartPolicy"] = restart_policy
    return pod


def deployment_doc(
    meta: dict[str, Any], pod: dict[str, Any], replicas: int, *, scrape_port: int | None = None
) -> dict[str, Any]:
    """A Deployment of ``pod``; with a ``scrape_port`` a server's: Prometheus annotations, and rolling
    updates that start a new pod (``maxSurge: 1``) before stopping an old one (``maxUnavailable: 0``)."""
    template: dict[str, Any] = {"metadata": {"labels": meta["labels"]}, "spec": pod}
    spec: dict[str, Any] = {"replicas": replicas, "selector": {"matchLabels": selector(meta)}}
    if scrape_port is not None:
        template["metadata"]["annotations"] = {
            "prometheus.io/scrape": "true",
            "prometheus.io/port": str(scrape_port),
            "prometheus.io/path": "/metrics",
        }
        spec["strategy"] = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}
    spec["template"] = template
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta, "spec": spec}


def service_doc(meta: dict[str, Any], port: int) -> dict[str, Any]:
    """A ClusterIP Service on port 80 in front of the pods' ``http`` port."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": meta,
        "spec": {"selector": selector(meta), "ports": [{"name": "http", "port": 80, "targetPort": "http"}]},
    }


def selector(meta: dict[str, Any]) -> dict[str, str]:
    """The labels selecting a resource's pods."""
    return {"app.kubernetes.io/name": meta["labels"]["app.kubernetes.io/name"]}


def probe(path: str, port: int, period: int, failures: int) -> dict[str, Any]:
    """An HTTP GET probe."""
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


def _str(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    # a ConfigMap's file reads as the file (a block), not as one escaped line
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style="|" if "\n" in data else None)


_PlainDumper.add_representer(str, _str)


def to_yaml(docs: list[dict[str, Any]]) -> str:
    """Manifests as one multi-document YAML text."""
    return yaml.dump_all(docs, Dumper=_PlainDumper, sort_keys=False)


def write_manifests(docs: list[dict[str, Any]], path: str | Path) -> Path:
    """Write manifests as one multi-document YAML file."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(to_yaml(docs))
    return out
