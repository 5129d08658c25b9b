"""A container image for ``loopwright serve``: the Dockerfile, and a build when an engine is reachable.

The image holds Loopwright (with the extras its store and artifact URIs need) and the model's
libraries (pinned to the versions the package recorded), not the model bytes: the container reads
the registry through ``LOOPWRIGHT_STORE_URI`` / ``LOOPWRIGHT_ARTIFACT_URI`` (PostgreSQL and S3 for a
team), so the served alias can move and the server hot-swaps without a new image.

The entrypoint is ``loopwright`` and the default arguments are ``serve TARGET …``, so a Kubernetes
``args: [serve, …]`` (what :func:`~loopwright.integrations.kubernetes.k8s_manifests` writes) runs
``loopwright serve …``. The server runs as the numeric user 10001 and writes only under
``LOOPWRIGHT_HOME`` (the prediction-log spool) and ``/tmp`` (model folders), so the root file
system can be read-only.

Examples
--------
>>> text = dockerfile("models:/churn@champion", requirements=["scikit-learn==1.5.2"])
>>> "HEALTHCHECK" in text and "/v2/health/ready" in text
True
>>> [line for line in text.splitlines() if line.startswith(("ENTRYPOINT", "USER"))]
['USER 10001:10001', 'ENTRYPOINT ["loopwright"]']
>>> [line for line in text.splitlines() if line.startswith("CMD")]
['CMD ["serve", "models:/churn@champion", "--host", "0.0.0.0", "--port", "8080", "--workers", "1", "--allow-unauthenticated"]']
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from loopwright._version import __version__
from loopwright.config import get_settings
from loopwright.errors import InvalidInput, LoopwrightError
from loopwright.models.loading import read_manifest, resolve_manifest_digest
from loopwright.tracking.client import get_client
from loopwright.uris import parse_model_uri

# an exact version (never a floating tag), so a rebuild gets the same interpreter and Debian release
BASE_IMAGE = "python:3.11.11-slim-bookworm"
DEPLOYMENT_FILE = "/etc/loopwright/deployment.yaml"
# LOOPWRIGHT_HOME in the image: the prediction-log spool lives here (an emptyDir in Kubernetes)
HOME_DIR = "/var/lib/loopwright"
# numeric, so Kubernetes' runAsNonRoot can verify it without reading /etc/passwd
UID = 10001
ENGINES = ("docker", "podman")


@dataclass(frozen=True)
class ImageBuild:
    """What :func:`build_image` did: where the Dockerfile is, the tag, and whether it was built."""

    dockerfile: Path
    tag: str
    built: bool
    message: str


def image_extras(store_uri: str | None = None, artifact_uri: str | None = None) -> list[str]:
    """The ``loopwright[...]`` extras a server needs for these store and artifact URIs.

    ``None`` reads ``LOOPWRIGHT_STORE_URI`` / ``LOOPWRIGHT_ARTIFACT_URI`` from the environment.

    >>> image_extras("postgresql+psycopg://lw:***@db/lw", "s3://models/lw")
    ['serve', 'postgres', 's3']
    >>> image_extras("sqlite:////var/lib/loopwright/lw.db", "/var/lib/loopwright/artifacts")
    ['serve']
    """
    settings = get_settings()
    store = settings.store_uri if store_uri is None else store_uri
    artifacts = settings.artifact_uri if artifact_uri is None else artifact_uri
    extras = ["serve"]
    if store.lower().startswith(("postgresql", "postgres:")):
        extras.append("postgres")
    if artifacts.lower().startswith(("s3://", "s3a://")):
        extras.append("s3")
    return extras


def dockerfile(
    target: str,
    *,
    requirements: Sequence[str] = (),
    port: int = 8080,
    workers: int = 1,
    base_image: str = BASE_IMAGE,
    deployment_file: bool = False,
    extras: Sequence[str] = ("serve",),
    wheel: str | None = None,
) -> str:
    """The Dockerfile text serving ``target`` (a model URI, or a deployment file copied in).

    ``extras`` are Loopwright's pip extras (see :func:`image_extras`); ``wheel`` is the file name of a
    Loopwright wheel in the build context, installed instead of the release from the package index.

    >>> text = dockerfile("models:/churn@champion", requirements=["loopwright==0.1.0"], extras=["serve", "postgres"])
    >>> [line.count("loopwright") for line in text.splitlines() if line.startswith("RUN pip")]
    [1]
    >>> "loopwright[serve,postgres]==" in text
    True
    """
    serve_target = DEPLOYMENT_FILE if deployment_file else target
    args = [
        "serve",
        serve_target,
        "--host",
        "0.0.0.0",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--allow-unauthenticated",  # the pod's network (Service, NetworkPolicy) guards it; set a token to add auth
    ]
    spec = f"[{','.join(dict.fromkeys(extras))}]"
    loopwright = f"/tmp/{wheel}{spec}" if wheel else f"loopwright{spec}=={__version__}"
    # a package's own `loopwright==X` pin is the line above (or the wheel), with the extras
    others = {
        r for r in requirements if re.split(r"[\s\[<>=!~;]", r.strip(), maxsplit=1)[0].lower() != "loopwright"
    }
    packages = [loopwright, *sorted(others)]
    lines = [
        "# Generated by `loopwright build-image`: a model server for " + target,
        f"FROM {base_image}",
        f"ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 LOOPWRIGHT_HOME={HOME_DIR} HOME={HOME_DIR}",
    ]
    if wheel:
        lines.append(f"COPY {wheel} /tmp/{wheel}")
    lines += [
        "RUN pip install --no-cache-dir "
        + " ".join(json.dumps(p) for p in packages)
        + (f" && rm /tmp/{wheel}" if wheel else ""),
        f"RUN groupadd --gid {UID} loopwright && useradd --uid {UID} --gid {UID} --no-create-home "
        f"--home-dir {HOME_DIR} --shell /usr/sbin/nologin loopwright "
        f"&& mkdir -p {HOME_DIR} && chown {UID}:{UID} {HOME_DIR}",
    ]
    if deployment_file:
        lines.append(f"COPY deployment.yaml {DEPLOYMENT_FILE}")
    lines += [
        f"USER {UID}:{UID}",
        "# the registry and artifacts come from the environment (a Kubernetes Secret), e.g. PostgreSQL and S3:",
        "#   LOOPWRIGHT_STORE_URI, LOOPWRIGHT_ARTIFACT_URI, LOOPWRIGHT_TOKEN",
        f"EXPOSE {port}",
        "HEALTHCHECK --interval=10s --timeout=3s --start-period=30s CMD python -c "
        f"\"import urllib.request; urllib.request.urlopen('http://127.0.0.1:{port}/v2/health/ready')\"",
        'ENTRYPOINT ["loopwright"]',
        "CMD " + json.dumps(args),
        "",
    ]
    return "\n".join(lines)


def container_engine() -> str | None:
    """The first container engine on ``PATH`` that answers ``info`` (``docker``, then ``podman``)."""
    for engine in ENGINES:
        if shutil.which(engine) is None:
            continue
        try:
            if subprocess.run([engine, "info"], capture_output=True, timeout=20).returncode == 0:
                return engine
        except (OSError, subprocess.TimeoutExpired):
            continue
    return None


def build_image(
    target: str,
    output_dir: str | Path = "loopwright-image",
    *,
    tag: str | None = None,
    requirements: Sequence[str] | None = None,
    port: int = 8080,
    workers: int = 1,
    build: bool = True,
    store_uri: str | None = None,
    artifact_uri: str | None = None,
    base_image: str = BASE_IMAGE,
    wheel: str | Path | None = None,
) -> ImageBuild:
    """Write a build context for serving ``target``, and build it when a container engine is reachable.

    Parameters
    ----------
    target:
        A model URI (``models:/churn@champion``) or a deployment YAML file (copied into the image).
    output_dir:
        The build context folder (created; holds ``Dockerfile`` and, for YAML, ``deployment.yaml``).
    tag:
        Image tag; default ``loopwright-<name>:latest``.
    requirements:
        pip requirements of the model; default: what the model packages recorded.
    build:
        ``False`` only writes the files.
    store_uri, artifact_uri:
        The URIs the container will use, which decide the extras installed (``postgres``, ``s3``);
        default: ``LOOPWRIGHT_STORE_URI`` / ``LOOPWRIGHT_ARTIFACT_URI`` of this environment.
    base_image:
        A pinned Python image (exact version or ``@sha256:`` digest).
    wheel:
        A Loopwright wheel to install instead of the release on the package index (copied in).

    Examples
    --------
    It reads the model's recorded requirements from the store, so it needs one:

    >>> import loopwright as lw, numpy as np, os, tempfile
    >>> from sklearn.linear_model import LinearRegression
    >>> os.environ["LOOPWRIGHT_HOME"] = tempfile.mkdtemp()
    >>> X = np.arange(6, dtype=float).reshape(3, 2)
    >>> with lw.start_run() as run:
    ...     _ = lw.log_model(LinearRegression().fit(X, X.sum(axis=1)), "model", input_example=X[:2])
    >>> _ = lw.set_alias("churn", "champion", lw.register_model(f"runs:/{run.id}/model", "churn").version)
    >>> image = lw.build_image("models:/churn@champion", os.path.join(tempfile.mkdtemp(), "ctx"),
    ...                        store_uri="postgresql+psycopg://db/lw", artifact_uri="s3://models", build=False)
    >>> image.tag, image.built, "loopwright[serve,postgres,s3]" in image.dockerfile.read_text()
    ('loopwright-churn:latest', False, True)
    >>> del os.environ["LOOPWRIGHT_HOME"]; lw.reset_clients()
    """
    from loopwright.serving.deployment import Deployment

    path = Path(str(target))
    is_file = not str(target).startswith(("models:/", "runs:/"))
    deployment = Deployment.load(str(target))
    if requirements is None:
        requirements = _recorded_requirements(deployment.model_uris())
    tag = tag or default_tag(deployment.endpoints[0].name)
    folder = Path(output_dir)
    folder.mkdir(parents=True, exist_ok=True)
    if is_file:
        shutil.copyfile(path, folder / "deployment.yaml")
    wheel_name = None
    if wheel is not None:
        wheel_path = Path(wheel)
        if wheel_path.suffix != ".whl" or not wheel_path.is_file():
            raise InvalidInput(f"--wheel {wheel}: not a wheel file")
        wheel_name = wheel_path.name
        shutil.copyfile(wheel_path, folder / wheel_name)
    (folder / "Dockerfile").write_text(
        dockerfile(
            str(target),
            requirements=requirements,
            port=port,
            workers=workers,
            base_image=base_image,
            deployment_file=is_file,
            extras=image_extras(store_uri, artifact_uri),
            wheel=wheel_name,
        )
    )
    if not build:
        return ImageBuild(folder / "Dockerfile", tag, False, "wrote the build context (build skipped)")
    engine = container_engine()
    if engine is None:
        return ImageBuild(
            folder / "Dockerfile",
            tag,
            False,
            f"no Docker engine or podman is reachable; build later with: docker build -t {tag} {folder}",
        )
    result = subprocess.run([engine, "build", "-t", tag, str(folder)], capture_output=True, text=True)
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise LoopwrightError(f"{engine} build failed: {last}")
    return ImageBuild(folder / "Dockerfile", tag, True, f"built {tag} with {engine}")


def _recorded_requirements(uris: Sequence[str]) -> list[str]:
    """The pip requirements each served model's package recorded at log time."""
    client = get_client()
    out: set[str] = set()
    for uri in uris:
        manifest = read_manifest(resolve_manifest_digest(parse_model_uri(uri), client), client, uri)
        out.update(str(r) for r in manifest.get("requirements") or [])
    return sorted(out)


def default_tag(endpoint: str) -> str:
    """The image tag ``build-image`` gives and ``k8s manifests`` deploys when none is named.

    >>> default_tag("churn")
    'loopwright-churn:latest'
    """
    return f"loopwright-{dns_name(endpoint)}:latest"


def dns_name(name: str) -> str:
    """A Kubernetes/DNS-1123 friendly form of an endpoint or model name.

    >>> dns_name("Churn_Model.v2")
    'churn-model-v2'
    """
    cleaned = "".join(c if c.isalnum() else "-" for c in name.lower()).strip("-")
    if not cleaned:
        raise InvalidInput(f"cannot make a Kubernetes name from {name!r}")
    return cleaned[:63].rstrip("-")
