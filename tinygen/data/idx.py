"""The IDX file format of MNIST: a big-endian header, then a dense array.

Layout: two zero bytes, one dtype byte, one byte giving the number of dimensions ``ndim``,
``ndim`` big-endian uint32 sizes, then the values in C order (big-endian where multi-byte).
Files may be gzip-compressed; the reader recognises gzip by its magic bytes, not the name.
"""

from __future__ import annotations

import gzip
import os
import zlib
from pathlib import Path

import numpy as np

# The dtype byte of the header -> the (big-endian) NumPy dtype of the values.
IDX_DTYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_GZIP_MAGIC = b"\x1f\x8b"


class IDXError(ValueError):
    """An IDX file is truncated, corrupt, or not what the caller expected."""


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (raw or gzip-compressed) into a native-endian array.

    Args:
        path: the file.

    Returns:
        The array, with the shape and dtype that the header declares.

    Raises:
        FileNotFoundError: the file does not exist.
        IDXError: the gzip stream or the IDX header/body is truncated or corrupt.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"read_idx: path must be a str or os.PathLike, got "
                        f"{type(path).__name__}")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"read_idx: path {str(path)!r} is not a file")
    raw = path.read_bytes()
    if raw[:2] == _GZIP_MAGIC:
        try:
            raw = gzip.decompress(raw)
        except (EOFError, OSError, zlib.error) as error:
            raise IDXError(f"{path}: corrupt or truncated gzip stream ({error})") from error
    return parse_idx(raw, source=str(path))


def parse_idx(raw: bytes, source: str = "<bytes>") -> np.ndarray:
    """Parse the bytes of an uncompressed IDX file; ``source`` names it in errors."""
    if not isinstance(raw, (bytes, bytearray, memoryview)):
        raise TypeError(f"parse_idx: raw must be bytes, got {type(raw).__name__}")
    raw = bytes(raw)
    if len(raw) < 4:
        raise IDXError(f"{source}: truncated IDX header ({len(raw)} bytes, need at least 4)")
    if raw[0] != 0 or raw[1] != 0:
        raise IDXError(f"{source}: bad IDX magic: expected two zero bytes, got "
                       f"{raw[:2].hex()} (not an IDX file)")
    type_code, ndim = raw[2], raw[3]
    if type_code not in IDX_DTYPES:
        raise IDXError(f"{source}: unknown IDX dtype byte 0x{type_code:02x}, expected one of "
                       f"{[f'0x{code:02x}' for code in IDX_DTYPES]}")
    header_size = 4 + 4 * ndim
    if len(raw) < header_size:
        raise IDXError(f"{source}: truncated IDX header: {ndim} dimensions need "
                       f"{header_size} bytes, the file has {len(raw)}")
    shape = tuple(int(size) for size in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    dtype = IDX_DTYPES[type_code]
    expected = header_size + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) != expected:
        problem = "truncated" if len(raw) < expected else "has trailing bytes"
        raise IDXError(f"{source}: IDX body {problem}: shape {shape} of {dtype} needs "
                       f"{expected} bytes in all, the file has {len(raw)}")
    values = np.frombuffer(raw, dtype=dtype, offset=header_size).reshape(shape)
    # A writable, native-endian copy: frombuffer's view of immutable bytes is read-only.
    return values.astype(dtype.newbyteorder("="))


def write_idx(path: str | os.PathLike, array: np.ndarray, compress: bool | None = None) -> None:
    """Write ``array`` as an IDX file, gzip-compressed when the name ends in ``.gz``.

    Args:
        path: the destination.
        array: any array whose dtype IDX can hold (uint8, int8, int16, int32, float32/64).
        compress: force compression on or off; by default, decided by the suffix.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"write_idx: path must be a str or os.PathLike, got "
                        f"{type(path).__name__}")
    if compress is not None and not isinstance(compress, bool):
        raise TypeError(f"write_idx: compress must be None or a bool, got {compress!r}")
    try:
        array = np.asarray(array)
    except ValueError:  # a ragged list
        raise TypeError("write_idx: array must be a rectangular array, got a ragged "
                        f"{type(array).__name__}") from None
    codes = {dtype.newbyteorder("="): code for code, dtype in IDX_DTYPES.items()}
    code = codes.get(array.dtype.newbyteorder("="))
    if code is None:
        raise TypeError(f"write_idx: array dtype must be one of "
                        f"{[str(d) for d in codes]}, got {array.dtype}")
    header = bytes([0, 0, code, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    body = np.ascontiguousarray(array, dtype=IDX_DTYPES[code]).tobytes()
    data = header + body
    path = Path(path)
    if compress if compress is not None else path.suffix == ".gz":
        # mtime=0 keeps the bytes (and so their checksum) reproducible.
        data = gzip.compress(data, mtime=0)
    path.write_bytes(data)
