"""The whole platform on Kubernetes: server, inference, loop controllers, monitors — a Kustomize base.

A platform config (YAML, or the same as a dict) says what a team runs::

    image: registry.example.com/ml/loopwright-server:0.1.0    # the `server` target of the Dockerfile
    serving_image: registry.example.com/ml/loopwright-serving:0.1.0
    secret: loopwright            # LOOPWRIGHT_STORE_URI (PostgreSQL), LOOPWRIGHT_ARTIFACT_URI (S3), AWS_*
    server: {replicas: 2, workers: 2, resources: {...}}
    inference:                    # one Deployment + Service + HPA per entry
      churn:
        deployment: {endpoints: {churn: {model: "models:/churn@champion"}}}   # as `loopwright serve FILE`
        replicas: 2
        max_replicas: 10
        cpu_target: 70
        resources: {...}
    loops:                        # one single-replica controller per loop config
      churn: {every: 5m, config: {model: churn, pipeline: ..., ...}}
    monitors:                     # one CronJob of `loopwright monitor run` per endpoint
      churn: {schedule: "*/15 * * * *", window: 1h}

:func:`k8s_platform` turns it into files: one YAML file per component, ``kustomization.yaml`` listing
them, and the ``Dockerfile`` of both images. Every pod meets the restricted Pod Security Standard
(the helpers of :mod:`~loopwright.integrations.kubernetes.manifests`) and takes the store's
credentials from the Secret (``envFrom``); nothing secret is written.

Examples
--------
>>> files = k8s_platform({"image": "r/lw:1", "inference": {"churn": {"model": "models:/churn@champion"}}})
>>> sorted(files)
['Dockerfile', 'inference-churn.yaml', 'kustomization.yaml', 'server.yaml']
>>> [d["kind"] for d in yaml.safe_load_all(files["server.yaml"])]
['Deployment', 'PodDisruptionBudget', 'Service']
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from loopwright.errors import InvalidInput
from loopwright.integrations.kubernetes.image import (
    BASE_IMAGE,
    DEPLOYMENT_FILE,
    SERVER_PORT,
    SERVING_PORT,
    dns_name,
    platform_dockerfile,
    server_args,
)
from loopwright.integrations.kubernetes.manifests import (
    container_spec,
    deployment_doc,
    inference_manifests,
    metadata,
    pod_spec,
    probe,
    service_doc,
    to_yaml,
)

LOOP_DIR = "/etc/loopwright/loop"
KEYS = {
    "image",
    "serving_image",
    "secret",
    "namespace",
    "base_image",
    "server",
    "inference",
    "loops",
    "monitors",
}
DEFAULT_RESOURCES: dict[str, Any] = {
    "requests": {"cpu": "250m", "memory": "512Mi"},
    "limits": {"memory": "1Gi"},
}


def k8s_platform(
    config: str | os.PathLike[str] | Mapping[str, Any], *, output: str | os.PathLike[str] | None = None
) -> dict[str, str]:
    """The platform's files (name → text) for a platform config; with ``output``, also written there.

    Parameters
    ----------
    config:
        A platform config: a YAML file or a mapping (see the module's docstring).
    output:
        A folder to write the files to (created): a Kustomize base, ``kubectl apply -k`` ready.

    Examples
    --------
    >>> files = k8s_platform({"image": "r/lw:1", "loops": {"churn": {"config": {
    ...     "model": "churn", "pipeline": "training:train", "policy": {"metric_thresholds": {"roc_auc": {"min": 0.8}}}, "holdout": "h.parquet",
    ...     "target": "y"}}}, "monitors": {"churn": {"window": "1h"}}})
    >>> loop = next(yaml.safe_load_all(files["loop-churn.yaml"]))
    >>> loop["data"]["loop.yaml"].startswith("model: churn")
    True
    >>> [d["kind"] for d in yaml.safe_load_all(files["monitor-churn.yaml"])]
    ['CronJob']
    >>> k8s_platform({"image": "r/lw:1", "servers": {}})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    loopwright.errors.InvalidInput: platform config: unknown key(s) ['servers']; expected ...
    """
    doc = _load(config)
    image = _text(doc, "image", None)
    secret = _text(doc, "secret", "loopwright")
    namespace = doc.get("namespace")
    files: dict[str, str] = {}
    files["server.yaml"] = _header(
        "the platform server: the store's REST API, artifacts and tokens (two replicas, a disruption budget)"
    ) + to_yaml(_server(_section(doc, "server"), image, secret, namespace))
    for name, entry in _section(doc, "inference").items():
        files[f"inference-{dns_name(name)}.yaml"] = _header(
            f"inference for {name}: rolling updates never below the replica count, a preStop drain"
        ) + to_yaml(_inference(name, _mapping(entry, f"inference.{name}"), doc, secret, namespace))
    for name, entry in _section(doc, "loops").items():
        files[f"loop-{dns_name(name)}.yaml"] = _header(
            f"the loop controller of {name}: one replica by design. Its leadership is the store's lock:\n"
            "every transition is a compare-and-set in the store (transition_loop), so a second replica\n"
            "(a rollout's overlap, a mistaken scale-up) could never run one cycle twice; it would only\n"
            "lose the races. Recreate, not a rolling update: the old controller stops before the new starts."
        ) + to_yaml(_loop(name, _mapping(entry, f"loops.{name}"), image, secret, namespace))
    for name, entry in _section(doc, "monitors").items():
        files[f"monitor-{dns_name(name)}.yaml"] = _header(
            f"monitoring of endpoint {name}: `loopwright monitor run` on a schedule (one run at a time)"
        ) + to_yaml([_monitor(name, _mapping(entry, f"monitors.{name}"), image, secret, namespace)])
    files["kustomization.yaml"] = _header(
        "the Kustomize base: kubectl apply -k (overlays set namespace, images)"
    ) + (
        to_yaml(
            [
                {
                    "apiVersion": "kustomize.config.k8s.io/v1beta1",
                    "kind": "Kustomization",
                    "resources": list(files),
                }
            ]
        )
    )
    files["Dockerfile"] = platform_dockerfile(_text(doc, "base_image", BASE_IMAGE), workers=_workers(doc))
    if output is not None:
        folder = Path(output)
        folder.mkdir(parents=True, exist_ok=True)
        for file, text in files.items():
            (folder / file).write_text(text)
    return files


def _server(spec: dict[str, Any], image: str, secret: str, namespace: str | None) -> list[dict[str, Any]]:
    replicas = _int(spec, "replicas", 2, "server")
    meta = metadata("loopwright-server", namespace)
    container = container_spec(
        image,
        server_args(_int(spec, "workers", 2, "server")),
        port=SERVER_PORT,
        env_secret=secret,
        resources=_mapping(spec.get("resources", DEFAULT_RESOURCES), "server.resources"),
    )
    container["livenessProbe"] = probe("/healthz", SERVER_PORT, period=10, failures=3)
    container["readinessProbe"] = probe("/readyz", SERVER_PORT, period=5, failures=2)  # the store answers
    container["startupProbe"] = probe("/healthz", SERVER_PORT, period=2, failures=60)
    budget = {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": meta,
        # a node drain takes one server at a time: the API stays up through cluster upgrades
        "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app.kubernetes.io/name": meta["name"]}}},
    }
    return [
        deployment_doc(meta, pod_spec(container), replicas, scrape_port=SERVER_PORT),
        budget,
        service_doc(meta, SERVER_PORT),
    ]


def _inference(
    name: str, entry: dict[str, Any], doc: dict[str, Any], secret: str, namespace: str | None
) -> list[dict[str, Any]]:
    from loopwright.serving.deployment import Deployment

    where = f"inference.{name}"
    unknown = set(entry) - {"deployment", "model", "replicas", "min_replicas", "max_replicas", "cpu_target",
                            "resources", "workers", "image"}  # fmt: skip
    if unknown or ("deployment" in entry) == ("model" in entry):
        raise InvalidInput(
            f"platform config: {where} needs one of deployment or model (and no {sorted(unknown)})"
        )
    if "model" in entry:
        deployment = Deployment.from_uri(_text(entry, "model", None), name=name)
        text = None
    else:
        deployment = Deployment.from_dict(_mapping(entry["deployment"], f"{where}.deployment"))
        text = yaml.safe_dump(entry["deployment"], sort_keys=False)
    replicas = _int(entry, "replicas", 2, where)
    return inference_manifests(
        deployment,
        text,
        serve_target=DEPLOYMENT_FILE if text is not None else entry["model"],
        image=_text(entry, "image", None) if "image" in entry else _text(doc, "serving_image", doc["image"]),
        name=f"inference-{name}",
        namespace=namespace,
        replicas=replicas,
        port=SERVING_PORT,
        workers=_int(entry, "workers", 1, where),
        min_replicas=_int(entry, "min_replicas", replicas, where),
        max_replicas=_int(entry, "max_replicas", max(10, replicas), where),
        cpu_target=_int(entry, "cpu_target", 70, where),
        resources=_mapping(entry.get("resources", DEFAULT_RESOURCES), f"{where}.resources"),
        env_secret=secret,
    )


def _loop(
    name: str, entry: dict[str, Any], image: str, secret: str, namespace: str | None
) -> list[dict[str, Any]]:
    from loopwright.loop.config import LoopConfig

    where = f"loops.{name}"
    config = _mapping(entry.get("config"), f"{where}.config")
    LoopConfig.from_dict(config, check_files=False)  # a wrong config fails here, not in the pod's log
    every = _text(entry, "every", "5m")
    meta = metadata(f"loop-{dns_name(name)}", namespace)
    settings = {**meta, "name": f"{meta['name']}-config"}
    args = ["loop", "run", "--config", f"{LOOP_DIR}/loop.yaml", "--every", every]
    container = container_spec(
        image,
        args,
        port=None,
        env_secret=secret,
        resources=_mapping(entry.get("resources", DEFAULT_RESOURCES), f"{where}.resources"),
    )
    container["volumeMounts"].append({"name": "loop", "mountPath": LOOP_DIR, "readOnly": True})
    pod = pod_spec(container)
    pod["volumes"].append({"name": "loop", "configMap": {"name": settings["name"]}})
    controller = deployment_doc(meta, pod, 1)
    controller["spec"]["strategy"] = {"type": "Recreate"}
    return [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": settings,
            "data": {"loop.yaml": yaml.safe_dump(config, sort_keys=False)},
        },
        controller,
    ]


def _monitor(
    name: str, entry: dict[str, Any], image: str, secret: str, namespace: str | None
) -> dict[str, Any]:
    where = f"monitors.{name}"
    args = ["monitor", "run", "--endpoint", name, "--window", _text(entry, "window", "1h"), "--closed-only"]
    container = container_spec(
        image,
        args,
        port=None,
        env_secret=secret,
        resources=_mapping(entry.get("resources", DEFAULT_RESOURCES), f"{where}.resources"),
    )
    meta = metadata(f"monitor-{dns_name(name)}", namespace)
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": meta,
        "spec": {
            "schedule": _text(entry, "schedule", "*/15 * * * *"),
            "timeZone": "Etc/UTC",
            "concurrencyPolicy": "Forbid",  # a slow pass is not overtaken by the next one
            "successfulJobsHistoryLimit": 3,
            "failedJobsHistoryLimit": 3,
            "jobTemplate": {
                "spec": {
                    "backoffLimit": 2,
                    "template": {
                        "metadata": {"labels": meta["labels"]},
                        "spec": pod_spec(container, restart_policy="Never"),
                    },
                }
            },
        },
    }


def _workers(doc: dict[str, Any]) -> int:
    return _int(_section(doc, "server"), "workers", 2, "server")


def _header(text: str) -> str:
    return "".join(f"# {line}\n" for line in ["Generated by `loopwright k8s platform`:", *text.splitlines()])


def _load(config: str | os.PathLike[str] | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(config, Mapping):
        doc: Any = dict(config)
    else:
        path = Path(config)
        if not path.is_file():
            raise InvalidInput(f"platform config {path}: no such file")
        try:
            doc = yaml.safe_load(path.read_text())
        except yaml.YAMLError as e:
            raise InvalidInput(f"platform config {path}: not YAML ({str(e).splitlines()[0]})") from None
    doc = _mapping(doc, "the platform config")
    unknown = set(doc) - KEYS
    if unknown:
        raise InvalidInput(f"platform config: unknown key(s) {sorted(unknown)}; expected {sorted(KEYS)}")
    if "image" not in doc:
        raise InvalidInput("platform config: image (the server image) is required")
    return doc


def _section(doc: dict[str, Any], key: str) -> dict[str, Any]:
    return _mapping(doc.get(key) or {}, key)


def _mapping(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise InvalidInput(f"platform config: {where} must be a mapping, got {type(value).__name__}")
    return dict(value)


def _text(doc: dict[str, Any], key: str, default: str | None) -> str:
    value = doc.get(key, default)
    if not isinstance(value, str) or not value:
        raise InvalidInput(f"platform config: {key} must be a non-empty string, got {value!r}")
    return value


def _int(doc: dict[str, Any], key: str, default: int, where: str) -> int:
    value = doc.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise InvalidInput(f"platform config: {where}.{key} must be a positive integer, got {value!r}")
    return value
