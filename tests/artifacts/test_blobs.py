"""Content-addressed blobs on a local folder, memory:// and a real S3 protocol stand-in (moto)."""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from cli_process import free_port
from loopwright.artifacts import BlobStore
from loopwright.errors import IntegrityError, InvalidInput, NotFound, Unavailable


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    """moto's S3 server: speaks the real S3 HTTP protocol on 127.0.0.1."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            time.sleep(0.2)
    yield endpoint
    proc.terminate()
    proc.wait(10)


@pytest.fixture(params=["local", "memory", "s3"])
def blobs(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> BlobStore:
    if request.param == "local":
        return BlobStore(str(tmp_path / "artifacts"), cache_dir=str(tmp_path / "cache"))
    if request.param == "memory":
        return BlobStore(f"memory://blobs-{uuid.uuid4().hex}")
    endpoint = request.getfixturevalue("s3_endpoint")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    import s3fs

    bucket = f"lw-{uuid.uuid4().hex[:10]}"
    s3fs.S3FileSystem(client_kwargs={"endpoint_url": endpoint}).mkdir(bucket)
    return BlobStore(
        f"s3://{bucket}/artifacts",
        storage_options={"client_kwargs": {"endpoint_url": endpoint}, "skip_instance_cache": True},
        cache_dir=str(tmp_path / "cache"),
    )


def test_roundtrip_bytes_and_files(blobs: BlobStore, tmp_path: Path) -> None:
    digest, size = blobs.put_bytes(b"hello world")
    assert digest == hashlib.sha256(b"hello world").hexdigest() and size == 11
    assert blobs.put_bytes(b"hello world") == (digest, size)  # idempotent
    assert blobs.get_bytes(digest) == b"hello world"
    source = tmp_path / "big.bin"
    source.write_bytes(os.urandom(3 << 20))
    file_digest, file_size = blobs.put_file(source)
    assert file_size == 3 << 20
    copy = blobs.get_file(file_digest, tmp_path / "out" / "copy.bin")
    assert copy.read_bytes() == source.read_bytes()
    assert {b.digest for b in blobs.iter_blobs()} == {digest, file_digest}
    assert blobs.delete(digest) == 11
    assert not blobs.exists(digest)
    with pytest.raises(NotFound):
        blobs.get_bytes(digest)


def test_no_temporary_files_left(blobs: BlobStore) -> None:
    blobs.put_bytes(b"x" * 1000)
    assert not [p for p in blobs.fs.find(blobs._base) if p[len(blobs._base) :].startswith("/tmp/")]


def test_tampered_blob_is_refused(tmp_path: Path) -> None:
    blobs = BlobStore(str(tmp_path / "artifacts"))
    digest, _ = blobs.put_bytes(b"trusted content")
    path = blobs.local_path(digest)
    assert path is not None
    data = bytearray(path.read_bytes())
    data[0] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match=digest):
        blobs.get_bytes(digest)
    with pytest.raises(IntegrityError):
        blobs.get_file(digest, tmp_path / "out.bin")
    assert not (tmp_path / "out.bin").exists()


def test_bad_digest_and_data() -> None:
    blobs = BlobStore(f"memory://{uuid.uuid4().hex}")
    with pytest.raises(InvalidInput, match="SHA-256"):
        blobs.get_bytes("../../etc/passwd")
    with pytest.raises(InvalidInput, match="bytes"):
        blobs.put_bytes("text")  # type: ignore[arg-type]


def test_missing_credentials_are_one_clear_error(
    s3_endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bucket without credentials is Unavailable naming the store, not a botocore traceback."""
    for name in [n for n in os.environ if n.startswith("AWS_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    blobs = BlobStore(
        "s3://bucket/artifacts",
        storage_options={"client_kwargs": {"endpoint_url": s3_endpoint}, "skip_instance_cache": True},
    )
    with pytest.raises(
        Unavailable, match=r"artifact store 's3://bucket/artifacts' failed: NoCredentialsError"
    ):
        blobs.put_bytes(b"x")
