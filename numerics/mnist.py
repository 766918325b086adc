"""Reader for the IDX format of the MNIST files (LeCun et al.), raw or gzip-compressed.

Layout: two zero bytes, a type code, the number of dimensions n, then n big-endian uint32 sizes and
the big-endian data. Type codes: 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32,
0x0E float64.
"""
from __future__ import annotations

import gzip
import hashlib
import io
import math
import zlib
from pathlib import Path

import numpy as np

IDX_TYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"), 0x09: np.dtype(">i1"), 0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8"),
}
_GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 1 << 24
"""Bytes per read of a compressed stream: memory grows with what the stream holds, not with what its
header claims."""


def read_idx(path: str | Path, *, max_bytes: int | None = None) -> np.ndarray:
    """The array stored in the IDX file at `path` (gzip detected from its content, not its name).

    Raises FileNotFoundError if the file is missing and ValueError (naming the file) if it is not a
    well-formed IDX file: bad magic number, unknown type code, a data size that does not match the
    header, or (with `max_bytes`) more data than that: a small compressed file cannot claim gigabytes.
    """
    return read_idx_file(path, max_bytes=max_bytes)[0]


def read_idx_file(path: str | Path, *, max_bytes: int | None = None) -> tuple[np.ndarray, dict]:
    """`read_idx(path)` and the fingerprint of the bytes it parsed: {"name", "bytes", "sha256"} of the
    file as stored (compressed or not). Both come from one read, so the fingerprint is that of the data."""
    path = Path(path)
    stored = path.read_bytes()
    fingerprint = {"name": path.name, "bytes": len(stored), "sha256": hashlib.sha256(stored).hexdigest()}
    return parse_idx(stored, path, max_bytes=max_bytes), fingerprint


def _read_up_to(stream, n: int) -> bytes:
    """At most `n` bytes of `stream`, read in chunks of _CHUNK."""
    parts, size = [], 0
    while size < n:
        part = stream.read(min(_CHUNK, n - size))
        if not part:
            break
        parts.append(part)
        size += len(part)
    return b"".join(parts)


def parse_idx(stored: bytes, path: Path, *, max_bytes: int | None = None) -> np.ndarray:
    """The array held by the IDX bytes `stored` (gzip-compressed or not) read from `path` (named in errors).

    The header is read first and the data only up to the size it states, so neither a lying header nor
    a compression bomb is decompressed beyond `max_bytes`."""
    compressed = stored[:2] == _GZIP_MAGIC
    stream = gzip.GzipFile(fileobj=io.BytesIO(stored)) if compressed else io.BytesIO(stored)
    try:
        head = stream.read(4)
        if len(head) < 4 or head[0] != 0 or head[1] != 0:
            raise ValueError(f"{path}: not an IDX file (magic number must start with two zero bytes)")
        code, ndim = head[2], head[3]
        if code not in IDX_TYPES:
            raise ValueError(f"{path}: unknown IDX type code 0x{code:02X}; valid: "
                             + ", ".join(f"0x{c:02X}" for c in IDX_TYPES))
        sizes = stream.read(4 * ndim)
        if ndim == 0 or len(sizes) < 4 * ndim:
            raise ValueError(f"{path}: truncated IDX header ({ndim} dimensions)")
        dims = tuple(int(d) for d in np.frombuffer(sizes, dtype=">u4"))
        dtype = IDX_TYPES[code]
        expected = math.prod(dims) * dtype.itemsize  # exact (Python integers): a header cannot overflow the check
        says = f"{path}: IDX header says {dims} x {dtype.itemsize} bytes = {expected} bytes of data"
        if max_bytes is not None and expected > max_bytes:
            raise ValueError(f"{says}, more than the {max_bytes} this machine's memory allows")
        if not compressed and len(stored) - 4 - 4 * ndim != expected:
            raise ValueError(f"{says}, file has {len(stored) - 4 - 4 * ndim}")
        data = _read_up_to(stream, expected + 1)
        if len(data) != expected:
            raise ValueError(f"{says}, file has {len(data) if len(data) < expected else 'more'}")
    except (OSError, EOFError, zlib.error) as exc:
        raise ValueError(f"{path}: corrupt gzip stream ({exc})") from None
    return np.frombuffer(data, dtype=dtype).reshape(dims).astype(dtype.newbyteorder("="))
