import gzip

import numpy as np
import pytest

from mnistlab.data.idx import encode_idx, parse_idx, read_idx, write_idx
from mnistlab.data.verified import load_split
from mnistlab.errors import DataError

from .conftest import write_custom_dataset


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_round_trip(tmp_path, suffix):
    arr = np.random.default_rng(0).integers(0, 256, (7, 28, 28), dtype=np.uint8)
    path = tmp_path / f"x-idx3-ubyte{suffix}"
    write_idx(path, arr)
    assert np.array_equal(read_idx(path), arr)


def test_bad_magic():
    data = bytearray(encode_idx(np.zeros((2, 3), np.uint8)))
    data[2] = 0x0D  # float32 type code
    with pytest.raises(DataError, match="bad magic"):
        parse_idx(bytes(data), "f")


def test_truncated():
    data = encode_idx(np.zeros((5, 28, 28), np.uint8))
    with pytest.raises(DataError, match="truncated"):
        parse_idx(data[:-10], "f")
    with pytest.raises(DataError, match="truncated"):
        parse_idx(data[:6], "f")


def test_wrong_count():
    data = encode_idx(np.zeros((5, 28, 28), np.uint8)) + b"\0" * 784
    with pytest.raises(DataError, match="wrong size"):
        parse_idx(data, "f")


def test_huge_header_does_not_allocate():
    header = bytes([0, 0, 8, 3]) + (60000).to_bytes(4, "big") + (2**31).to_bytes(4, "big") * 2
    with pytest.raises(DataError, match="truncated"):
        parse_idx(header + b"\0" * 100, "f")


def test_corrupt_gzip(tmp_path):
    path = tmp_path / "x.gz"
    path.write_bytes(gzip.compress(b"0" * 1000)[:20])
    with pytest.raises(DataError, match="corrupt gzip"):
        read_idx(path)


def test_checksum_mismatch_names_the_file(tmp_path):
    folder = write_custom_dataset(tmp_path / "d", 20, 10)
    path = folder / "t10k-labels-idx1-ubyte"
    data = bytearray(path.read_bytes())
    data[-1] = (data[-1] + 1) % 10  # still a valid IDX file: only the checksum can tell
    path.write_bytes(bytes(data))
    assert len(load_split("custom", True, folder)) == 20
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte: checksum mismatch"):
        load_split("custom", False, folder)


def test_missing_file(tmp_path):
    folder = write_custom_dataset(tmp_path / "d", 20, 10)
    (folder / "train-images-idx3-ubyte").unlink()
    with pytest.raises(DataError, match="train-images-idx3-ubyte: file not found"):
        load_split("custom", True, folder)


def test_real_mnist_verifies(mnist_dir):
    test = load_split("mnist", False)
    assert test.images.shape == (10000, 28, 28) and test.labels.bincount().tolist()[0] == 980


def test_zero_dimension_with_huge_others_is_refused():
    # found by hypothesis: dims (0, 1144974, 1197061, 6729423) made numpy raise ValueError
    header = bytes([0, 0, 8, 4]) + b"".join(d.to_bytes(4, "big") for d in (0, 1144974, 1197061, 6729423))
    with pytest.raises(DataError, match="empty"):
        parse_idx(header, "f")
