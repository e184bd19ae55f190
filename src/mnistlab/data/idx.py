"""The IDX format of LeCun's MNIST files, read with every header field checked.

Layout (big-endian): 2 zero bytes, a type code (0x08 = uint8), the number of dimensions, one uint32 per
dimension, then the payload. We read only uint8 files (all MNIST and Fashion-MNIST files are) and refuse
anything whose header disagrees with its size *before* allocating, so a header claiming 4e9 images costs
nothing.
"""

import gzip
import math
import struct
from pathlib import Path

import numpy as np

from ..errors import DataError

UINT8 = 0x08
MAX_DIMS = 4


def parse_idx(data: bytes, name: str = "<bytes>") -> np.ndarray:
    """Bytes of an uncompressed IDX file -> uint8 array of the declared shape (no copy)."""
    if len(data) < 4:
        raise DataError(f"{name}: truncated: {len(data)} bytes, too short for an IDX header")
    zero, dtype, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype != UINT8 or not 1 <= ndim <= MAX_DIMS:
        raise DataError(f"{name}: bad magic number 0x{data[:4].hex()} (expected 0x000008NN, uint8 IDX)")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{name}: truncated: the header needs {header} bytes, the file has {len(data)}")
    dims = struct.unpack(f">{ndim}I", data[4:header])
    if 0 in dims:  # an empty file is useless, and numpy refuses shapes like (0, 2**30, 2**30) anyway
        raise DataError(f"{name}: empty: the header declares shape {tuple(dims)}")
    expected = math.prod(dims)  # Python ints: a huge header cannot overflow into a small number
    actual = len(data) - header
    if actual < expected:
        raise DataError(
            f"{name}: truncated: the header declares shape {tuple(dims)} ({expected} bytes of data), "
            f"the file holds {actual}"
        )
    if actual > expected:
        raise DataError(
            f"{name}: wrong size: the header declares shape {tuple(dims)} ({expected} bytes of data), "
            f"the file holds {actual}"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)


def read_bytes(path: Path) -> bytes:
    """The uncompressed bytes of `path`; `.gz` files are decompressed."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except OSError as e:
        raise DataError(f"{path}: cannot read: {e.strerror or e}") from None
    if path.suffix == ".gz" or raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as e:
            raise DataError(f"{path}: corrupt gzip data: {e}") from None
    return raw


def read_idx(path: Path) -> np.ndarray:
    """Read a raw or gzipped IDX file into a uint8 array."""
    return parse_idx(read_bytes(path), str(path)).copy()


def encode_idx(array: np.ndarray) -> bytes:
    """uint8 array -> IDX bytes (used by tests and fixtures)."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = struct.pack(">HBB", 0, UINT8, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.tobytes()


def write_idx(path: Path, array: np.ndarray) -> None:
    data = encode_idx(array)
    Path(path).write_bytes(gzip.compress(data) if str(path).endswith(".gz") else data)
