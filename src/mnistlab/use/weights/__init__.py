"""Shipped weights: the model `predict`, `serve` and `export` use when no --run is given.

`default/` is an ordinary run directory (model.json, model.safetensors, config.json, metrics.csv).
Swapping the default model means replacing that folder; nothing else names it.
"""

from pathlib import Path

from ...errors import MnistlabError


def default_run_dir() -> Path:
    """The run directory of the shipped default model (package data, no download)."""
    path = Path(__file__).with_name("default")
    if not (path / "model.json").is_file() or not (path / "model.safetensors").is_file():
        raise MnistlabError(f"{path}: the shipped default model is missing; pass --run RUN_DIR")
    return path
