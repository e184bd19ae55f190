"""Bytes -> verified tensors: IDX parsing (idx.py), the data sets' specs and hashes (datasets.py), fetching
into a cache and loading verified splits (verified.py). The first stage: nothing here knows of models."""

from .datasets import DATASETS, DatasetSpec
from .verified import Split, carve_validation, data_dir, fetch, find_file, get_spec, load_split

__all__ = ["DATASETS", "DatasetSpec", "Split", "carve_validation", "data_dir", "fetch", "find_file", "get_spec",
           "load_split"]  # fmt: skip
