"""``loopwright serve``, ``loopwright build-image``, ``loopwright k8s manifests``, ``loopwright k8s platform``.

Mirrors ``lw.serve``, ``lw.build_image``, ``lw.k8s_manifests`` and ``lw.k8s_platform``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from loopwright.cli.render import console, table

k8s_app = typer.Typer(
    help="Kubernetes manifests for a model server or the whole platform.", no_args_is_help=True
)


def serve(
    target: str = typer.Argument(
        ...,
        help="models:/NAME@ALIAS, models:/NAME/VERSION, runs:/RUN/model, a deployment YAML, or "
        "bundled:all-MiniLM-L6-v2 (the bundled embedding model behind the OpenAI route /v1/embeddings).",
    ),
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on."),
    port: int = typer.Option(8080, "--port", "-p", help="Port to listen on."),
    workers: int = typer.Option(1, "--workers", "-w", help="Worker processes."),
    token: str = typer.Option(
        None, "--token", help="Require 'Authorization: Bearer TOKEN' (default: $LOOPWRIGHT_TOKEN)."
    ),
    admin_token: str = typer.Option(
        None, "--admin-token", help="Token of the admin role for /admin/* (default: $LOOPWRIGHT_ADMIN_TOKEN)."
    ),
    store_tokens: bool = typer.Option(
        False,
        "--store-tokens",
        help="Also accept tokens from 'loopwright tokens create' (viewer and up predict; maintainer and up "
        "use /admin/*); turns auth on even without --token.",
    ),
    onnx: bool = typer.Option(False, "--onnx", help="Serve each package's ONNX variant when it has one."),
    max_body_mb: float = typer.Option(10.0, "--max-body-mb", help="Larger request bodies get 413."),
    poll_interval: float = typer.Option(
        2.0, "--poll-interval", help="Seconds between alias checks (hot swap)."
    ),
    log_predictions: bool = typer.Option(
        True, "--log-predictions/--no-log-predictions", help="Keep the prediction log."
    ),
    log_sync: bool = typer.Option(
        False,
        "--log-sync",
        help="Spool each request to disk (fsync) before answering it: a kill loses nothing answered "
        "(default: spooled within 0.5 s; a kill -9 loses at most the last second).",
    ),
    access_log: bool = typer.Option(
        True, "--access-log/--no-access-log", help="One JSON line per request on stdout."
    ),
    timeout_keep_alive: float = typer.Option(
        5.0, "--timeout-keep-alive", help="Seconds an idle keep-alive connection stays open."
    ),
    header_timeout: float = typer.Option(
        10.0, "--header-timeout", help="Seconds a request's headers may take to arrive (then 408, closed)."
    ),
    body_timeout: float = typer.Option(
        30.0, "--body-timeout", help="Seconds a request's body may take after its headers (then 408, closed)."
    ),
    max_connections: int = typer.Option(
        4096, "--max-connections", help="Open connections per worker; requests past it get 503."
    ),
    allow_unauthenticated: bool = typer.Option(
        False,
        "--allow-unauthenticated",
        help="Listen on a non-loopback --host without a token (a network policy or proxy must guard it).",
    ),
) -> None:
    """Serve models over HTTP: Open Inference Protocol v2, MLflow /invocations and /endpoints/NAME/predict."""
    from loopwright.serving.deployment import Deployment
    from loopwright.serving.server import configure_server_logging
    from loopwright.serving.server import serve as run

    configure_server_logging()
    deployment = Deployment.load(target)

    def ready(url: str) -> None:
        rows: list[tuple[Any, ...]] = []
        for e in deployment.endpoints:
            for r in e.routes:
                model = r.model
                if isinstance(model, str) and model.startswith("models:/") and "@" in model:
                    model = f"{model} → version {_version_of(model)}"
                rows.append((e.name, "route", model, r.weight, f"{url}/endpoints/{e.name}/predict"))
            if e.shadow is not None:
                rows.append((e.name, "shadow", e.shadow, "", ""))
        console.print(
            table(
                f"serving on {url} ({workers} worker{'s' if workers > 1 else ''})",
                ["endpoint", "role", "model", "weight", "predict URL"],
                rows,
            )
        )
        console.print(
            f"OIP: {url}/v2/models/NAME/infer · MLflow: {url}/invocations · OpenAI: {url}/v1 · "
            f"metrics: {url}/metrics",
            highlight=False,
        )

    run(
        deployment,
        host=host,
        port=port,
        workers=workers,
        access_log=access_log,
        ready=ready,
        timeout_keep_alive=timeout_keep_alive,
        header_timeout=header_timeout,
        body_timeout=body_timeout,
        max_connections=max_connections,
        allow_unauthenticated=allow_unauthenticated,
        token=token,
        admin_token=admin_token,
        store_tokens=store_tokens,
        prefer_onnx=onnx,
        max_body_bytes=int(max_body_mb * 1024 * 1024),
        poll_interval=poll_interval,
        log_predictions=log_predictions,
        log_sync=log_sync,
    )


def _version_of(uri: str) -> str:
    """The version an alias URI resolves to right now (``unset`` for a dormant route)."""
    from loopwright.errors import LoopwrightError
    from loopwright.registry.fluent import get_model_version_by_alias
    from loopwright.uris import parse_model_uri

    parsed = parse_model_uri(uri)
    try:
        return str(get_model_version_by_alias(str(parsed.name), str(parsed.alias)).version)
    except LoopwrightError:
        return "unset"


def build_image(
    target: str = typer.Argument(..., help="A model URI or a deployment YAML."),
    output: Path = typer.Option(Path("loopwright-image"), "--output", "-o", help="Build context folder."),
    tag: str = typer.Option(None, "--tag", "-t", help="Image tag (default loopwright-NAME:latest)."),
    port: int = typer.Option(8080, "--port"),
    workers: int = typer.Option(1, "--workers"),
    build: bool = typer.Option(
        True, "--build/--no-build", help="Build when a container engine (docker, podman) is reachable."
    ),
    store_uri: str = typer.Option(
        None,
        "--store-uri",
        help="The store the container will use; decides the extras installed "
        "(default: $LOOPWRIGHT_STORE_URI; postgresql → postgres).",
    ),
    artifact_uri: str = typer.Option(
        None,
        "--artifact-uri",
        help="The artifact root the container will use (default: $LOOPWRIGHT_ARTIFACT_URI; s3:// → s3).",
    ),
    base_image: str = typer.Option(
        None,
        "--base-image",
        help="A pinned Python image, exact version tag or @sha256: digest (default python:3.11.11-slim-bookworm).",
    ),
    wheel: Path = typer.Option(
        None, "--wheel", help="Install Loopwright from this wheel instead of the package index."
    ),
) -> None:
    """Write a Dockerfile serving the model (and build it when a container engine is reachable).

    The image's entrypoint is ``loopwright`` and its default arguments ``serve TARGET --host 0.0.0.0 …``;
    it runs as UID 10001 and installs the extras the store and artifact URIs need.
    """
    from loopwright.integrations.kubernetes import build_image as run
    from loopwright.integrations.kubernetes.image import BASE_IMAGE

    result = run(
        target,
        output,
        tag=tag,
        port=port,
        workers=workers,
        build=build,
        store_uri=store_uri,
        artifact_uri=artifact_uri,
        base_image=base_image or BASE_IMAGE,
        wheel=wheel,
    )
    console.print(f"wrote {result.dockerfile} · image {result.tag} · {result.message}", highlight=False)


@k8s_app.command()
def manifests(
    target: str = typer.Argument(..., help="A model URI or a deployment YAML."),
    image: str = typer.Option(
        None, "--image", "-i", help="Container image (default: build-image's tag, loopwright-NAME:latest)."
    ),
    output: Path = typer.Option(None, "--output", "-o", help="YAML file to write (default: print)."),
    name: str = typer.Option(None, "--name", help="Resource name (default: the endpoint name)."),
    namespace: str = typer.Option(None, "--namespace", "-n"),
    replicas: int = typer.Option(2, "--replicas"),
    port: int = typer.Option(8080, "--port"),
    workers: int = typer.Option(1, "--workers"),
    min_replicas: int = typer.Option(2, "--min-replicas"),
    max_replicas: int = typer.Option(10, "--max-replicas"),
    cpu_target: int = typer.Option(70, "--cpu-target", help="HPA target CPU utilisation (%)."),
    env_secret: str = typer.Option(
        "loopwright",
        "--env-secret",
        help="Secret with LOOPWRIGHT_STORE_URI, LOOPWRIGHT_ARTIFACT_URI (and LOOPWRIGHT_TOKEN); '' for none.",
    ),
) -> None:
    """Deployment, Service and HorizontalPodAutoscaler with probes on the OIP health routes.

    Pods meet the restricted Pod Security Standard (non-root, read-only root file system, capabilities
    dropped, RuntimeDefault seccomp) and take the store's credentials from the Secret ``--env-secret``.
    """
    from loopwright.integrations.kubernetes import k8s_manifests, to_yaml, write_manifests

    docs = k8s_manifests(
        target,
        image=image,
        name=name,
        namespace=namespace,
        replicas=replicas,
        port=port,
        workers=workers,
        min_replicas=min_replicas,
        max_replicas=max_replicas,
        cpu_target=cpu_target,
        env_secret=env_secret or None,
    )
    if output is None:
        console.print(to_yaml(docs), highlight=False, markup=False)
        return
    path = write_manifests(docs, output)
    console.print(
        table(f"wrote {path}", ["kind", "name"], [(d["kind"], d["metadata"]["name"]) for d in docs])
    )


@k8s_app.command()
def platform(
    config: Path = typer.Option(
        Path("deployments.yaml"),
        "--config",
        "-c",
        help="The platform config (YAML; see deploy/k8s/platform.yaml).",
    ),
    output: Path = typer.Option(
        Path("loopwright-k8s"), "--output", "-o", help="Folder to write (a Kustomize base: kubectl apply -k)."
    ),
) -> None:
    """The platform a team runs, as a Kustomize base: the server (2 replicas, a PodDisruptionBudget),
    inference deployments (HPA, zero-downtime rolling updates, preStop drain), loop controllers and
    monitoring CronJobs, plus the Dockerfile of the server and serving images.

    Every pod meets the restricted Pod Security Standard and reads the store's credentials from a Secret.
    """
    from loopwright.integrations.kubernetes import k8s_platform

    files = k8s_platform(config, output=output)
    console.print(table(f"wrote {output}", ["file"], [(name,) for name in files]))
