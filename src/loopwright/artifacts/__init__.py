"""Content-addressed artifacts: blobs by SHA-256 digest, verified on every read."""

from loopwright.artifacts.blobs import BlobInfo, BlobStore, check_digest, sha256_file

__all__ = ["BlobInfo", "BlobStore", "check_digest", "sha256_file"]
