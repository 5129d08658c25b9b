"""Loading model packages: resolve a URI to a manifest digest, verify everything, then deserialise.

Order of operations (nothing is deserialised until step 4):

1. the URI resolves to the manifest digest the store recorded (run artifact or registry version);
2. the manifest blob is read and must hash to that digest;
3. a pickle-based package is refused unless pickle is allowed (``allow_pickle=True`` or
   ``LOOPWRIGHT_ALLOW_PICKLE=1``), and so is a package naming code Loopwright does not trust
   (:mod:`loopwright.models.trust`);
4. every file the manifest lists is copied into a private temporary folder and must hash to its
   recorded digest; only then does the flavor read them.
"""

from __future__ import annotations

import shutil
import weakref
from pathlib import Path
from typing import Any

from loopwright.artifacts import check_digest
from loopwright.config import get_settings
from loopwright.errors import IntegrityError, NotFound, PermissionDenied
from loopwright.models.flavors import get_flavor
from loopwright.models.flavors.base import package_file
from loopwright.models.flavors.onnx import OnnxPredictor, session
from loopwright.models.loaded import LoadedModel
from loopwright.models.manifest import MANIFEST_NAME, file_entries, parse_manifest
from loopwright.models.tempdirs import new_model_folder
from loopwright.models.trust import check_code, is_vouched
from loopwright.tracking.client import Client, get_client
from loopwright.uris import ModelUri, parse_model_uri


def load_model(
    uri: str, allow_pickle: bool | None = None, prefer_onnx: bool = False, *, client: Client | None = None
) -> LoadedModel:
    """Load a model package by URI, verified, ready to ``predict``.

    Parameters
    ----------
    uri:
        ``runs:/RUN_ID/path``, ``models:/NAME/VERSION`` or ``models:/NAME@ALIAS``.
    allow_pickle:
        Permit a pickle-based package. ``None`` (default) defers to ``LOOPWRIGHT_ALLOW_PICKLE``.
    prefer_onnx:
        Predict through the package's ONNX companion when it has one.
    client:
        The store and blobs to load from; default: the environment's (``lw.get_client()``).

    Returns
    -------
    LoadedModel

    Examples
    --------
    >>> load_model("models:/churn")
    Traceback (most recent call last):
    ...
    loopwright.errors.InvalidInput: invalid model URI 'models:/churn': use models:/NAME/VERSION or models:/NAME@ALIAS
    """
    parsed = parse_model_uri(uri)
    client = client if client is not None else get_client()
    record = _registry_record(parsed, client) if parsed.scheme == "models" else None
    digest = record.manifest_digest if record is not None else resolve_manifest_digest(parsed, client)
    model = load_model_from_manifest(digest, client, allow_pickle, prefer_onnx, uri=uri)
    if record is not None:
        model.name = parsed.name
        model.version = int(getattr(record, "version", None) or parsed.version or 0)
    return model


def _registry_record(parsed: ModelUri, client: Client) -> Any:
    store: Any = client.store  # the registry methods live on the store (registry area)
    if not hasattr(store, "get_model_version"):
        raise NotFound(f"cannot resolve {parsed}: this store has no model registry")
    if parsed.alias is not None:
        return store.get_model_version_by_alias(parsed.name, parsed.alias)
    return store.get_model_version(parsed.name, int(parsed.version or 0))


def resolve_manifest_digest(parsed: ModelUri, client: Client) -> str:
    """The manifest digest the store records for a parsed URI."""
    if parsed.scheme == "runs":
        try:
            ref = client.store.get_artifact("run", str(parsed.run_id), f"{parsed.path}/{MANIFEST_NAME}")
        except NotFound:
            raise NotFound(
                f"no model at {parsed}: run {parsed.run_id!r} has no {parsed.path}/{MANIFEST_NAME}"
            ) from None
        return ref.digest
    return str(_registry_record(parsed, client).manifest_digest)


def read_manifest(
    manifest_digest: str, client: Client | None = None, uri: str | None = None
) -> dict[str, Any]:
    """A package's manifest, after checking its bytes hash to ``manifest_digest``."""
    client = client or get_client()
    where = f"{MANIFEST_NAME} of {uri or 'model ' + manifest_digest[:12]}"
    check_digest(manifest_digest)
    try:
        data = client.blobs.get_bytes(manifest_digest)
    except IntegrityError:
        raise IntegrityError(
            f"{where} was tampered with or corrupted: it no longer hashes to the digest the store "
            f"recorded ({manifest_digest[:12]}…); refusing to load"
        ) from None
    except NotFound:
        raise NotFound(f"{where} is missing from the artifact store") from None
    return parse_manifest(data, where)


def load_model_from_manifest(
    manifest_digest: str,
    client: Client | None = None,
    allow_pickle: bool | None = None,
    prefer_onnx: bool = False,
    uri: str | None = None,
) -> LoadedModel:
    """Load the package whose manifest hashes to ``manifest_digest``: the one place loading happens.

    Every file is verified against the manifest before any is deserialised; a mismatch raises
    :class:`~loopwright.errors.IntegrityError` naming the file. A pickle-based package raises
    :class:`~loopwright.errors.PermissionDenied` unless pickle is allowed.
    """
    client = client or get_client()
    label = uri or f"model {manifest_digest[:12]}"
    manifest = read_manifest(manifest_digest, client, uri)
    flavor = get_flavor(str(manifest["flavor"]))
    options = manifest.get("flavor_options") or {}
    if not isinstance(options, dict):
        raise IntegrityError(f"{MANIFEST_NAME} of {label}: flavor_options must be an object")
    permitted = get_settings().allow_pickle if allow_pickle is None else allow_pickle
    if (flavor.uses_pickle or manifest.get("allow_pickle")) and not permitted:
        raise PermissionDenied(
            f"{label} is a pickle-based model (logged with allow_pickle=True); unpickling can run arbitrary "
            "code, so it loads only with lw.load_model(uri, allow_pickle=True) or LOOPWRIGHT_ALLOW_PICKLE=1"
        )
    code = flavor.code(options)
    if code is not None:
        check_code(code, is_vouched(client.store, manifest_digest, code), label)
    folder = new_model_folder()
    try:
        _fetch_verified(client, manifest, folder, label)
        section = manifest.get("onnx") if isinstance(manifest.get("onnx"), dict) else None
        if prefer_onnx and section:
            predictor: Any = OnnxPredictor.from_section(
                session(package_file(folder, section.get("path"), "onnx.path")), section
            )
        else:
            predictor = flavor.wrap(flavor.load(folder, options, allow_pickle=permitted), options)
        uses_onnx = flavor.name == "onnx" or (prefer_onnx and bool(section))
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    model = LoadedModel(uri or f"manifest:{manifest_digest}", manifest, manifest_digest, predictor, uses_onnx)
    # the files stay for the model's lifetime (a pyfunc may read its artifacts lazily)
    weakref.finalize(model, shutil.rmtree, folder, True)
    return model


def _fetch_verified(client: Client, manifest: dict[str, Any], folder: Path, label: str) -> None:
    prefix = f"{manifest.get('artifact_path')}/" if manifest.get("artifact_path") else ""
    for entry in file_entries(manifest):
        target = folder / entry.path
        try:
            client.blobs.get_file(entry.sha256, target)
        except IntegrityError:
            raise IntegrityError(
                f"model file {prefix}{entry.path} of {label} was tampered with or corrupted: its content does "
                f"not match the digest in the manifest ({entry.sha256[:12]}…); refusing to load"
            ) from None
        except NotFound:
            raise NotFound(
                f"model file {prefix}{entry.path} of {label} is missing from the artifact store"
            ) from None
        if target.stat().st_size != entry.size:
            raise IntegrityError(
                f"model file {prefix}{entry.path} of {label} has the wrong size; refusing to load"
            )
