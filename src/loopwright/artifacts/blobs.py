"""Content-addressed blob store over fsspec.

Every blob lives under its SHA-256 digest (``ROOT/sha256/ab/abcdef…``). A write goes to a
temporary name and is renamed into place, so no half-written blob is ever visible under a
digest; a read hashes what it got and refuses it if the digest differs. Records elsewhere
(runs, model versions) map logical names to these digests.

Examples
--------
>>> store = BlobStore("memory://doctest-blobs")
>>> digest, size = store.put_bytes(b"hello")
>>> digest[:12], size
('2cf24dba5fb0', 5)
>>> store.get_bytes(digest)
b'hello'
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import wraps
from pathlib import Path
from typing import IO, Any, ParamSpec, TypeVar

import fsspec

from loopwright.errors import IntegrityError, InvalidInput, LoopwrightError, NotFound, Unavailable

P = ParamSpec("P")
T = TypeVar("T")
# cloud SDKs raise their own exceptions (no credentials, endpoint unreachable) through fsspec
_SDK_MODULES = ("botocore", "aiobotocore", "google", "azure")


def _storage_errors(method: Callable[P, T]) -> Callable[P, T]:
    """Turn a storage failure (I/O error, cloud SDK error) into one :class:`Unavailable` line."""

    @wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return method(*args, **kwargs)
        except LoopwrightError:
            raise
        except Exception as error:
            if not isinstance(error, OSError) and not type(error).__module__.startswith(_SDK_MODULES):
                raise
            root = getattr(args[0], "root", "?")
            raise Unavailable(f"artifact store {root!r} failed: {type(error).__name__}: {error}") from error

    return wrapper


CHUNK = 1 << 20
_HEX = frozenset("0123456789abcdef")


@dataclass(frozen=True)
class BlobInfo:
    digest: str
    size: int
    modified: float  # seconds since the epoch


def check_digest(digest: object) -> str:
    """Return ``digest`` if it is a SHA-256 hex digest, else raise :class:`InvalidInput`."""
    if not isinstance(digest, str) or len(digest) != 64 or not set(digest) <= _HEX:
        raise InvalidInput(f"not a SHA-256 hex digest: {digest!r}")
    return digest


def sha256_file(path: str | os.PathLike[str]) -> tuple[str, int]:
    """Digest and size of a local file, read in chunks."""
    hasher = hashlib.sha256()
    size = 0
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            hasher.update(chunk)
            size += len(chunk)
    return hasher.hexdigest(), size


class BlobStore:
    """Blobs by digest under ``root`` (a folder, ``memory://…``, ``s3://bucket/prefix``, …).

    Parameters
    ----------
    root:
        Where blobs live. A plain path is a local folder, created on first write.
    storage_options:
        Passed to fsspec (e.g. ``{"endpoint_url": …}`` for an S3-compatible server).
    cache_dir:
        Local folder for verified copies of remote blobs that must be read as files.
    """

    def __init__(
        self, root: str, storage_options: dict[str, Any] | None = None, cache_dir: str | None = None
    ):
        self.root = root.rstrip("/") or "/"
        try:
            self.fs, self._base = fsspec.core.url_to_fs(root, **(storage_options or {}))
        except (ValueError, ImportError) as error:  # unknown protocol, or its package not installed
            raise InvalidInput(f"unsupported artifact URI {root!r}: {error}") from None
        self._base = self._base.rstrip("/")
        self.is_local = "file" in _protocols(self.fs)
        self.cache_dir = Path(cache_dir) if cache_dir else None

    def __repr__(self) -> str:
        return f"BlobStore({self.root!r})"

    def _path(self, digest: str) -> str:
        check_digest(digest)
        return f"{self._base}/sha256/{digest[:2]}/{digest}"

    def local_path(self, digest: str) -> Path | None:
        """Where the blob sits on this machine's disk, for a local store (not verified)."""
        return Path(self._path(digest)) if self.is_local else None

    # -- writes --------------------------------------------------------------------------------
    @_storage_errors
    def put_bytes(self, data: bytes) -> tuple[str, int]:
        """Store ``data``; return ``(digest, size)``. Storing the same bytes twice is a no-op."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise InvalidInput(f"blob data must be bytes, got {type(data).__name__}")
        digest = hashlib.sha256(data).hexdigest()
        if not self.exists(digest):
            self._publish(digest, lambda handle: handle.write(data))
        return digest, len(data)

    @_storage_errors
    def put_file(self, path: str | os.PathLike[str]) -> tuple[str, int]:
        """Store a local file's content; return ``(digest, size)``."""
        if not os.path.isfile(path):
            raise NotFound(f"no such file: {os.fspath(path)!r}")
        digest, size = sha256_file(path)
        if not self.exists(digest):

            def copy(handle: IO[bytes]) -> None:
                with open(path, "rb") as source:
                    shutil.copyfileobj(source, handle, CHUNK)

            self._publish(digest, copy)
            # the file may have changed between hashing and copying: check what landed
            landed = self.fs.size(self._path(digest))
            if landed != size:
                self.fs.rm(self._path(digest))
                raise IntegrityError(f"{os.fspath(path)!r} changed while it was being stored; try again")
        return digest, size

    def _publish(self, digest: str, write: Any) -> None:
        final = self._path(digest)
        temp = f"{self._base}/tmp/{uuid.uuid4().hex}"
        self.fs.makedirs(f"{self._base}/tmp", exist_ok=True)
        self.fs.makedirs(final.rsplit("/", 1)[0], exist_ok=True)
        try:
            with self.fs.open(temp, "wb") as handle:
                write(handle)
                if self.is_local:
                    handle.flush()
                    os.fsync(handle.fileno())
            if self.is_local:
                os.replace(temp, final)  # atomic on POSIX
            else:
                self.fs.mv(temp, final)
        finally:
            if self.fs.exists(temp):
                self.fs.rm(temp)

    # -- reads ---------------------------------------------------------------------------------
    @_storage_errors
    def exists(self, digest: str) -> bool:
        return bool(self.fs.exists(self._path(digest)))

    @_storage_errors
    def get_bytes(self, digest: str) -> bytes:
        """The blob's bytes, after checking they hash to ``digest``."""
        path = self._path(digest)
        try:
            data = self.fs.cat_file(path)
        except FileNotFoundError:
            raise NotFound(f"blob {digest} is missing from {self.root}") from None
        actual = hashlib.sha256(data).hexdigest()
        if actual != digest:
            raise IntegrityError(
                f"blob {digest} is corrupted or tampered with (its content hashes to {actual})"
            )
        return bytes(data)

    @_storage_errors
    def get_file(self, digest: str, dest: str | os.PathLike[str] | None = None) -> Path:
        """A verified local copy of the blob.

        With ``dest`` the blob is copied there (atomically). Without it, a local store
        returns a verified temporary copy and a remote store a verified copy in ``cache_dir``.
        """
        check_digest(digest)
        if dest is None:
            folder = self.cache_dir or Path(tempfile.gettempdir()) / "loopwright-blobs"
            dest = folder / digest
            if Path(dest).exists() and sha256_file(dest)[0] == digest:
                return Path(dest)
        target = Path(dest)
        target.parent.mkdir(parents=True, exist_ok=True)
        temp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.part")
        try:
            try:
                self.fs.get_file(self._path(digest), str(temp))
            except FileNotFoundError:
                raise NotFound(f"blob {digest} is missing from {self.root}") from None
            actual, _ = sha256_file(temp)
            if actual != digest:
                raise IntegrityError(
                    f"blob {digest} is corrupted or tampered with (its content hashes to {actual})"
                )
            os.replace(temp, target)
        finally:
            temp.unlink(missing_ok=True)
        return target

    # -- housekeeping --------------------------------------------------------------------------
    @_storage_errors
    def delete(self, digest: str) -> int:
        """Remove a blob; return the bytes freed (0 if it was not there)."""
        path = self._path(digest)
        try:
            size = int(self.fs.size(path))
            self.fs.rm(path)
        except FileNotFoundError:
            return 0
        return size

    def iter_blobs(self) -> Iterator[BlobInfo]:
        """Every blob present, with its size and modification time."""
        base = f"{self._base}/sha256"
        if not self.fs.exists(base):
            return
        for path, info in self.fs.find(base, detail=True).items():
            name = path.rsplit("/", 1)[-1]
            if len(name) != 64 or not set(name) <= _HEX:
                continue
            yield BlobInfo(name, int(info.get("size") or 0), _mtime(info))


def _protocols(fs: Any) -> set[str]:
    protocol = fs.protocol
    return {protocol} if isinstance(protocol, str) else set(protocol)


def _mtime(info: dict[str, Any]) -> float:
    for key in ("mtime", "LastModified", "created", "updated"):
        value = info.get(key)
        if value is None:
            continue
        if hasattr(value, "timestamp"):
            return float(value.timestamp())
        try:
            return float(value)
        except (TypeError, ValueError):
            continue
    return 0.0
