import hashlib
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import settings

from mnistlab.data.idx import encode_idx

# Property tests draw the same examples on every run: CI cannot go red by a fresh random draw.
settings.register_profile("mnistlab", derandomize=True, deadline=None)
settings.load_profile("mnistlab")
torch.set_num_threads(1)  # small convolutions: one thread per test process is ~3x faster overall here
os.environ.setdefault("MNISTLAB_THREADS_FOR_TESTS", "1")


def synthetic_digits(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Learnable 28x28 stand-ins: class c is a bright 6x6 square at one of ten places, plus noise."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n).astype(np.uint8)
    images = rng.integers(0, 40, (n, 28, 28)).astype(np.uint8)
    for i, c in enumerate(labels):
        r, k = 4 + 12 * (c // 5) + rng.integers(-1, 2), 2 + 5 * (c % 5) + rng.integers(-1, 2)
        images[i, r : r + 6, k : k + 6] = 255
    return images, labels


def write_custom_dataset(folder: Path, n_train: int = 512, n_test: int = 256) -> Path:
    """The four IDX files plus the SHA256SUMS manifest that the `custom` dataset is verified by."""
    folder.mkdir(parents=True, exist_ok=True)
    sums = []
    for prefix, n, seed in (("train", n_train, 0), ("t10k", n_test, 1)):
        images, labels = synthetic_digits(n, seed)
        for kind, arr in (("images-idx3-ubyte", images), ("labels-idx1-ubyte", labels)):
            data = encode_idx(arr)
            (folder / f"{prefix}-{kind}").write_bytes(data)
            sums.append(f"{hashlib.sha256(data).hexdigest()}  {prefix}-{kind}")
    (folder / "SHA256SUMS").write_text("\n".join(sums) + "\n")
    return folder


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory) -> Path:
    return write_custom_dataset(tmp_path_factory.mktemp("tiny") / "data")


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    """The real MNIST cache; `make test` fetches it first. Skipped only outside make test without it."""
    from mnistlab.data.verified import data_dir, find_file

    folder = data_dir("mnist")
    if find_file(folder, "t10k-images-idx3-ubyte") is None:
        pytest.skip(f"real MNIST not in {folder}; run 'mnistlab data fetch' (make test does)")
    return folder


# Test tiers: `make test` runs everything; `make test-fast` (-m "not slow and not browser and not database")
# the unit tier for the edit-test loop. Marked here by what a test needs, so a new test is tiered too.
SLOW_FILES = {  # whole training runs, kernels, servers under load, worker processes
    "test_resume.py",
    "test_serve_load.py",
    "test_notebook.py",
    "test_sweep_workers.py",
    "test_shipped_results.py",
    "test_bench.py",
}
SLOW_TESTS = {
    "test_overfits_one_batch",
    "test_two_workers_share_a_journal_file",
    "test_clean_epochs_train_the_last_epochs_without_augmentation",
}


def pytest_collection_modifyitems(config, items):
    for item in items:
        fixtures = getattr(item, "fixturenames", ())
        if item.path.name == "test_browser.py":
            item.add_marker(pytest.mark.browser)
        if "postgres_url" in fixtures or "postgresql" in item.nodeid:
            item.add_marker(pytest.mark.database)
        if "mnist_dir" in fixtures or item.path.name in SLOW_FILES or item.originalname in SLOW_TESTS:
            item.add_marker(pytest.mark.slow)
