"""Writing model packages: :func:`log_model` and :func:`convert_to_onnx`.

A package is a set of flavor files plus ``manifest.json`` (see :mod:`loopwright.models.manifest`),
every one stored as a content-addressed blob. :func:`log_model` records them as run artifacts under
``<artifact_path>/…`` in one store transaction, manifest included, so a package is either wholly
there or not at all.
"""

from __future__ import annotations

import platform
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from loopwright._version import __version__
from loopwright.errors import AlreadyExists, Conflict, InvalidInput, NotFound
from loopwright.models.conversion import ONNX_PATH, sklearn_to_onnx
from loopwright.models.flavors import Flavor, Predictor, UnsupportedModel, detect_flavor, get_flavor
from loopwright.models.loading import load_model_from_manifest, read_manifest, resolve_manifest_digest
from loopwright.models.manifest import FORMAT, MANIFEST_NAME, FileEntry, encode_example, manifest_bytes
from loopwright.models.signature import Signature, infer_signature
from loopwright.models.trust import CODE_OWNER
from loopwright.names import validate_artifact_path
from loopwright.store import ArtifactRef
from loopwright.store.entities import now_ms
from loopwright.tracking.client import Client, get_client
from loopwright.tracking.fluent import active_run
from loopwright.uris import parse_model_uri

ONNX_LIBRARIES = ("onnx", "onnxruntime", "skl2onnx")
#: owner type of the artifact records of a package derived from another (``convert_to_onnx``)
PACKAGE_OWNER = "model_package"


@dataclass(frozen=True)
class ModelInfo:
    """What :func:`log_model` stored: where, under which manifest digest, and how.

    Examples
    --------
    >>> import loopwright as lw, numpy as np, os, tempfile
    >>> from sklearn.linear_model import LinearRegression
    >>> os.environ["LOOPWRIGHT_HOME"] = tempfile.mkdtemp()
    >>> X = np.arange(6, dtype=float).reshape(3, 2)
    >>> with lw.start_run() as run:
    ...     info = lw.log_model(LinearRegression().fit(X, X.sum(axis=1)), "model", input_example=X[:2])
    >>> info.uri == f"runs:/{run.id}/model", info.flavor, len(info.manifest_digest), info.has_onnx
    (True, 'sklearn', 64, False)
    >>> del os.environ["LOOPWRIGHT_HOME"]; lw.reset_clients()
    """

    uri: str
    run_id: str
    artifact_path: str
    manifest_digest: str
    flavor: str
    signature: Signature | None
    has_onnx: bool


def log_model(
    model: Any,
    artifact_path: str = "model",
    input_example: Any = None,
    signature: Signature | Mapping[str, Any] | None = None,
    requirements: Sequence[str] | None = None,
    metadata: Mapping[str, Any] | None = None,
    onnx: bool = False,
    allow_pickle: bool = False,
    flavor: str | None = None,
    run_id: str | None = None,
    client: Client | None = None,
) -> ModelInfo:
    """Save ``model`` as a verifiable package in the active run (or ``run_id``).

    Parameters
    ----------
    model:
        A scikit-learn estimator or pipeline, XGBoost / LightGBM model, ONNX ``ModelProto``, Keras 3
        model, torch ``nn.Module`` or a pyfunc object (``load(context)`` + ``predict(data)``).
    artifact_path:
        Where the package goes inside the run (``runs:/RUN_ID/<artifact_path>``).
    input_example:
        A few rows (DataFrame, array or records); stored in the manifest, used to infer the
        signature and, with ``onnx=True``, to check the conversion's parity.
    signature:
        Explicit :class:`Signature` (or its ``to_dict()``); inferred from the example when omitted.
    requirements:
        pip requirement strings; defaults to the flavor's libraries pinned to the installed versions.
    metadata:
        Free JSON-able metadata kept in the manifest.
    onnx:
        Also store an ONNX conversion (scikit-learn only), refused unless it matches on the example.
    allow_pickle:
        Let a model no safe flavor can save fall back to pickle; the manifest then says
        ``"allow_pickle": true`` and loading needs explicit permission.
    flavor:
        Force a flavor by name instead of detecting it.
    run_id:
        Log into this run instead of the active one.
    client:
        The store and blobs of ``run_id``; default: the active run's, else the environment's.

    Returns
    -------
    ModelInfo

    Examples
    --------
    >>> import loopwright as lw, numpy as np, os, tempfile
    >>> from sklearn.linear_model import LinearRegression
    >>> os.environ["LOOPWRIGHT_HOME"] = tempfile.mkdtemp()
    >>> X = np.arange(10, dtype=float).reshape(5, 2)
    >>> with lw.start_run() as run:
    ...     info = lw.log_model(LinearRegression().fit(X, X.sum(axis=1)), "model", input_example=X[:2])
    >>> info.flavor, info.uri == f"runs:/{run.id}/model"
    ('sklearn', True)
    >>> lw.load_model(info.uri).predict([[1.0, 2.0]]).round(6)
    array([3.])
    >>> del os.environ["LOOPWRIGHT_HOME"]; lw.reset_clients()
    """
    client, rid = _target(run_id, client)
    # "model/" names the same folder as "model"; "/model" is an absolute path and refused
    artifact_path = validate_artifact_path(
        artifact_path.rstrip("/") if isinstance(artifact_path, str) else artifact_path
    )
    run = client.store.get_run(rid)
    if run.status != "running":
        raise Conflict(f"run {rid!r} is {run.status}; log models inside a running run")
    try:
        client.store.get_artifact("run", rid, f"{artifact_path}/{MANIFEST_NAME}")
    except NotFound:
        pass
    else:
        raise AlreadyExists(
            f"run {rid!r} already has a model at {artifact_path!r}; choose another artifact_path"
        )
    if isinstance(input_example, list) and input_example and isinstance(input_example[0], Mapping):
        input_example = pd.DataFrame.from_records(input_example)
    chosen = _choose_flavor(model, flavor, allow_pickle)
    if onnx and chosen.name != "sklearn":
        raise InvalidInput(
            f"onnx=True converts scikit-learn models; this is a {chosen.name} model "
            "(export it to ONNX yourself and log the ONNX model instead)"
        )
    with tempfile.TemporaryDirectory(prefix="loopwright-package-") as tmp:
        folder = Path(tmp)
        chosen, options = _save(model, chosen, folder, allow_pickle, flavor is not None)
        sig, example = _signature(chosen.live(model, folder, options), input_example, signature)
        section = None
        if onnx:
            data, section = sklearn_to_onnx(model, example)
            (folder / ONNX_PATH).parent.mkdir(parents=True, exist_ok=True)
            (folder / ONNX_PATH).write_bytes(data)
        entries = _store_files(client, folder)
    versions = chosen.library_versions()
    if section is not None:
        versions.update(_versions(ONNX_LIBRARIES))
    manifest = {
        "format": FORMAT,
        "flavor": chosen.name,
        "flavor_options": options,
        "loopwright_version": __version__,
        "python_version": platform.python_version(),
        "library_versions": versions,
        "requirements": _requirements(requirements, versions),
        "signature": None if sig is None else sig.to_dict(),
        "input_example": encode_example(input_example),
        "metadata": dict(metadata or {}),
        "allow_pickle": chosen.uses_pickle,
        "onnx": section,
        "run_id": rid,
        "artifact_path": artifact_path,
        "created_ms": now_ms(),
        "files": [e.to_dict() for e in entries],
    }
    manifest_digest, manifest_size = client.blobs.put_bytes(manifest_bytes(manifest))
    code = chosen.code(options)
    if code is not None:  # vouch for the class this package imports (models/trust.py), before it exists
        client.store.record_artifacts(
            CODE_OWNER, manifest_digest, [ArtifactRef(code, manifest_digest, manifest_size)]
        )
    refs = [ArtifactRef(f"{artifact_path}/{e.path}", e.sha256, e.size) for e in entries]
    refs.append(ArtifactRef(f"{artifact_path}/{MANIFEST_NAME}", manifest_digest, manifest_size))
    client.store.record_artifacts("run", rid, refs)
    return ModelInfo(
        uri=f"runs:/{rid}/{artifact_path}",
        run_id=rid,
        artifact_path=artifact_path,
        manifest_digest=manifest_digest,
        flavor=chosen.name,
        signature=sig,
        has_onnx=section is not None,
    )


def convert_to_onnx(uri: str, client: Client | None = None) -> ModelInfo:
    """Add an ONNX conversion to a scikit-learn package; return the new package's info.

    Packages are immutable, so this writes a *new* manifest (the same files plus
    ``onnx/model.onnx``, and ``derived_from`` naming the old manifest digest) and records its files
    under the artifact owner ``("model_package", <new manifest digest>)``. The run's own artifacts
    are left as logged; a registry version adopts the conversion by pointing at the new digest.
    Converting a package that already has ONNX returns it unchanged.

    Parameters
    ----------
    uri:
        ``runs:/RUN_ID/path``, ``models:/NAME/VERSION`` or ``models:/NAME@ALIAS``.

    Returns
    -------
    ModelInfo
        ``manifest_digest`` is the new manifest's digest; ``uri`` is the URI given.
    """
    client = client or get_client()
    parsed = parse_model_uri(uri)
    old_digest = resolve_manifest_digest(parsed, client)
    manifest = read_manifest(old_digest, client, uri)
    sig = Signature.from_dict(manifest["signature"]) if manifest.get("signature") else None

    def info(digest: str) -> ModelInfo:
        return ModelInfo(
            uri=uri,
            run_id=str(manifest.get("run_id")),
            artifact_path=str(manifest.get("artifact_path")),
            manifest_digest=digest,
            flavor=manifest["flavor"],
            signature=sig,
            has_onnx=True,
        )

    if manifest.get("onnx"):
        return info(old_digest)
    if manifest["flavor"] != "sklearn":
        raise InvalidInput(
            f"{uri} is a {manifest['flavor']} model; ONNX conversion supports scikit-learn models"
        )
    loaded = load_model_from_manifest(old_digest, client, uri=uri)
    example = loaded.input_example
    if example is None:
        raise InvalidInput(
            f"{uri} has no input example; ONNX conversion needs one to fix input types and check parity"
        )
    if loaded.signature is not None:
        example = loaded.signature.validate(example)
    data, section = sklearn_to_onnx(loaded.native, example)
    digest, size = client.blobs.put_bytes(data)
    new = dict(manifest)
    new["onnx"] = section
    new["library_versions"] = {**manifest.get("library_versions", {}), **_versions(ONNX_LIBRARIES)}
    new["files"] = [*manifest["files"], FileEntry(ONNX_PATH, digest, size).to_dict()]
    new["derived_from"] = old_digest  # no new timestamp: converting twice gives the same package
    new_digest, new_size = client.blobs.put_bytes(manifest_bytes(new))
    refs = [ArtifactRef(f["path"], f["sha256"], int(f["size"])) for f in new["files"]]
    refs.append(ArtifactRef(MANIFEST_NAME, new_digest, new_size))
    client.store.record_artifacts(PACKAGE_OWNER, new_digest, refs)
    return info(new_digest)


# -- helpers -----------------------------------------------------------------------------------
def _target(run_id: str | None, client: Client | None = None) -> tuple[Client, str]:
    run = active_run()
    if run_id is not None:
        if client is None:  # the active run knows its store; another run is the environment's
            client = run.client if run is not None and run.id == run_id else get_client()
        return client, run_id
    if run is None:
        raise Conflict("no active run: call lw.start_run() first or pass run_id=")
    return client or run.client, run.id


def _choose_flavor(model: Any, name: str | None, allow_pickle: bool) -> Flavor:
    if name is not None:
        chosen = get_flavor(name)
        if chosen.uses_pickle and not allow_pickle:
            raise InvalidInput(
                "flavor='pickle' needs allow_pickle=True: pickled models can run code when loaded"
            )
        return chosen
    found = detect_flavor(model)
    if found is not None:
        return found
    if allow_pickle:
        return get_flavor("pickle")
    raise InvalidInput(
        f"no flavor can save a {type(model).__module__}.{type(model).__qualname__} without pickle: wrap it in a "
        "pyfunc class (load(context) + predict(data)) or log it with allow_pickle=True"
    )


def _save(
    model: Any, chosen: Flavor, folder: Path, allow_pickle: bool, forced: bool
) -> tuple[Flavor, dict[str, Any]]:
    try:
        return chosen, chosen.save(model, folder)
    except UnsupportedModel as exc:
        if not allow_pickle or forced:
            raise InvalidInput(f"{exc}") from None
    for leftover in sorted(folder.rglob("*"), reverse=True):
        leftover.unlink() if leftover.is_file() else leftover.rmdir()
    fallback = get_flavor("pickle")
    return fallback, fallback.save(model, folder)


def _signature(
    predictor: Predictor,
    example: Any,
    given: Signature | Mapping[str, Any] | None,
) -> tuple[Signature | None, Any]:
    """The signature to store, and the example as the model will see it (validated)."""
    if given is not None and not isinstance(given, (Signature, Mapping)):
        raise InvalidInput(
            "signature must be a Signature (e.g. lw.infer_signature(X)), its to_dict() form or None, "
            f"got {type(given).__name__}"
        )
    sig = Signature.from_dict(given) if isinstance(given, Mapping) else given
    if example is None:
        return sig, None
    if sig is not None:
        return sig, sig.validate(example)
    inputs = infer_signature(example)
    validated = inputs.validate(example)
    try:
        output = predictor.predict(validated)
    except Exception as exc:
        raise InvalidInput(
            f"the model cannot predict on its input_example: {type(exc).__name__}: {exc}"
        ) from None
    try:
        return infer_signature(example, output), validated
    except InvalidInput:  # outputs we cannot describe (strings, nested objects): inputs only
        return inputs, validated


def _store_files(client: Client, folder: Path) -> list[FileEntry]:
    entries = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        relative = validate_artifact_path(path.relative_to(folder).as_posix())
        digest, size = client.blobs.put_file(path)
        entries.append(FileEntry(relative, digest, size))
    return entries  # may be empty: a pyfunc can be all code and config


def _versions(distributions: Sequence[str]) -> dict[str, str]:
    import importlib.metadata

    out = {}
    for dist in distributions:
        try:
            out[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    return out


def _requirements(given: Sequence[str] | None, versions: Mapping[str, str]) -> list[str]:
    if given is not None:
        if isinstance(given, str):
            raise InvalidInput("requirements must be a list of pip requirement strings, not one string")
        return [str(r) for r in given]
    return [f"loopwright=={__version__}", *(f"{dist}=={version}" for dist, version in versions.items())]
