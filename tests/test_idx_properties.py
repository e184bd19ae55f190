"""Property tests: whatever bytes arrive, the IDX reader returns the array or raises DataError, and a
header claiming enormous dimensions is refused before anything of that size is allocated."""

import struct
import tracemalloc

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from mnistlab.data.idx import encode_idx, parse_idx
from mnistlab.errors import DataError


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2048))
def test_random_bytes_parse_or_raise_dataerror(data):
    try:
        arr = parse_idx(data, "random")
    except DataError:
        return
    assert arr.dtype == np.uint8 and arr.size == len(data) - 4 - 4 * arr.ndim


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 2**32 - 1), min_size=1, max_size=4), st.binary(max_size=512))
def test_huge_headers_do_not_allocate(dims, payload):
    data = struct.pack(">HBB", 0, 8, len(dims)) + struct.pack(f">{len(dims)}I", *dims) + payload
    tracemalloc.start()
    try:
        parse_idx(data, "huge")
    except DataError:
        pass
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 1_000_000  # bytes: never proportional to the claimed size


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 5), st.integers(1, 6), st.integers(1, 6), st.data())
def test_every_truncation_is_refused(n, h, w, data):
    blob = encode_idx(np.arange(n * h * w, dtype=np.uint8).reshape(n, h, w))
    cut = data.draw(st.integers(0, len(blob) - 1))
    try:
        parse_idx(blob[:cut], "cut")
    except DataError as e:
        assert "truncated" in str(e) or "bad magic" in str(e)
    else:
        raise AssertionError("a truncated file was accepted")
