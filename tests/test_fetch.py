from pathlib import Path

import pytest

from mnistlab.data.verified import fetch, load_split
from mnistlab.errors import DataError

FASHION_DEB = Path("/usr/share/datasets/fashion-mnist")


@pytest.mark.skipif(not FASHION_DEB.is_dir(), reason="Debian package dataset-fashion-mnist not installed")
def test_fashion_mnist_from_the_debian_package(tmp_path):
    folder = fetch("fashion-mnist", tmp_path / "fm")
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]
    )
    test = load_split("fashion-mnist", False, folder)
    assert test.images.shape == (10000, 28, 28) and test.labels.bincount().tolist() == [1000] * 10


def test_cached_files_are_reused_and_verified(mnist_dir, tmp_path):
    import shutil

    folder = tmp_path / "m"
    shutil.copytree(mnist_dir, folder)
    assert fetch("mnist", folder) == folder  # nothing missing: no network touched
    assert len(load_split("mnist", True, folder)) == 60000


def test_custom_fetch_verifies(tiny_data):
    assert fetch("custom", tiny_data) == tiny_data


def test_custom_without_manifest(tmp_path):
    with pytest.raises(DataError, match="SHA256SUMS: missing"):
        fetch("custom", tmp_path)
