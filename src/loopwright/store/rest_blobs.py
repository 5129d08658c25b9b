"""Blobs through the platform server: a ``RestStore`` client never holds the bucket's credentials.

The same methods as :class:`~loopwright.artifacts.BlobStore`; bytes travel as
``PUT``/``GET /api/v1/blobs/{sha256}``, streamed. The server hashes each upload and refuses one that
does not match its digest; each download is hashed here again before anyone reads it.

Examples
--------
>>> from loopwright.store.rest import RestStore
>>> blobs = RestBlobs(RestStore("http://127.0.0.1:5000"))
>>> blobs.root, blobs.is_local
('http://127.0.0.1:5000', False)
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

from loopwright.artifacts.blobs import CHUNK, BlobInfo, BlobStore, check_digest, sha256_file
from loopwright.errors import IntegrityError, InvalidInput, NotFound
from loopwright.store.entities import GcReport
from loopwright.store.rest import RestStore
from loopwright.store.routes import API_PREFIX
from loopwright.store.wire import decode


class RestBlobs(BlobStore):
    """Content-addressed blobs kept by a ``loopwright server``."""

    def __init__(self, store: RestStore, cache_dir: str | None = None):  # no fsspec: the server owns it
        self.store = store
        self.root = store.uri
        self.is_local = False
        self.cache_dir = Path(cache_dir) if cache_dir else None

    def __repr__(self) -> str:
        return f"RestBlobs({self.root!r})"

    def _url(self, digest: str) -> str:
        return f"{API_PREFIX}/blobs/{check_digest(digest)}"

    def local_path(self, digest: str) -> Path | None:
        return None

    def put_bytes(self, data: bytes) -> tuple[str, int]:
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise InvalidInput(f"blob data must be bytes, got {type(data).__name__}")
        digest = hashlib.sha256(data).hexdigest()
        self.store.request("PUT", self._url(digest), content=lambda: bytes(data))
        return digest, len(data)

    def put_file(self, path: str | os.PathLike[str]) -> tuple[str, int]:
        if not os.path.isfile(path):
            raise NotFound(f"no such file: {os.fspath(path)!r}")
        digest, size = sha256_file(path)
        if not self.exists(digest):
            with open(path, "rb") as handle:  # each attempt streams the file from its start

                def body() -> Iterator[bytes]:
                    handle.seek(0)
                    while chunk := handle.read(CHUNK):
                        yield chunk

                self.store.request("PUT", self._url(digest), content=body)
        return digest, size

    def exists(self, digest: str) -> bool:
        try:
            self.store.request("HEAD", self._url(digest))
        except NotFound:
            return False
        return True

    def get_bytes(self, digest: str) -> bytes:
        data = self.store.request("GET", self._url(digest)).content
        actual = hashlib.sha256(data).hexdigest()
        if actual != digest:
            raise IntegrityError(f"blob {digest} arrived corrupted (its content hashes to {actual})")
        return data

    def get_file(self, digest: str, dest: str | os.PathLike[str] | None = None) -> Path:
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
            data = self.get_bytes(digest)  # whole, so a failed-over retry starts clean; verified
            with open(temp, "wb") as out:
                out.write(data)
            os.replace(temp, target)
        finally:
            temp.unlink(missing_ok=True)
        return target

    def collect_garbage(self, grace_seconds: float, **options: int | None) -> GcReport:
        """Have the server purge deleted records and the blobs nothing points to (admin role);
        ``options`` are :func:`~loopwright.tracking.client.collect_garbage`'s, in milliseconds."""
        params = {"grace_seconds": grace_seconds, **{k: v for k, v in options.items() if v is not None}}
        response = self.store.request("POST", f"{API_PREFIX}/admin/gc", params=params)
        return decode(GcReport, response.content)

    def delete(self, digest: str) -> int:
        raise InvalidInput("blobs are deleted by `loopwright gc` on the server's store, not through a client")

    def iter_blobs(self) -> Iterator[BlobInfo]:
        raise InvalidInput("blobs are listed by `loopwright gc` on the server's store, not through a client")
