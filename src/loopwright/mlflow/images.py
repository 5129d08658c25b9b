"""PNG encoding for ``mlflow.log_image`` of a numpy array (uint8 0-255 or float 0-1)."""

from __future__ import annotations

import struct
import zlib
from typing import Any

from loopwright.mlflow.exceptions import Unsupported


def png_bytes(array: Any) -> bytes:
    """An H x W (grey), H x W x 3 (RGB) or H x W x 4 (RGBA) array as PNG bytes (no Pillow needed).

    >>> import numpy as np
    >>> png_bytes(np.zeros((2, 3), dtype=np.uint8))[:8]
    b'\\x89PNG\\r\\n\\x1a\\n'
    """
    import numpy as np

    pixels = np.asarray(array)
    if pixels.dtype.kind == "f":
        pixels = (np.clip(pixels, 0.0, 1.0) * 255).round()
    pixels = pixels.astype(np.uint8)
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    if pixels.ndim != 3 or pixels.shape[2] not in (1, 3, 4):
        raise Unsupported(f"log_image(array of shape {pixels.shape})", "an HxW, HxWx3 or HxWx4 array")
    height, width, channels = pixels.shape
    color = {1: 0, 3: 2, 4: 6}[channels]
    rows = b"".join(b"\x00" + pixels[y].tobytes() for y in range(height))

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, color, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )
