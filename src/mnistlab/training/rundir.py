"""Run directories: what a run writes, and how a trained model is loaded back (no pickle anywhere).

runs/<YYYYmmdd-HHMMSS>-<model>/
  config.json        resolved TrainConfig + library versions + git commit
  metrics.csv        one row per epoch
  model.safetensors  weights and BN buffers
  model.json         model reference, constructor kwargs, parameter count, normalisation, class names,
                     and where user code came from ("source", models/provenance.py)
  model.py           a copy of the user's network code (runs of FILE.py:Name or a notebook's class)
  log.txt            set-up lines, then every epoch line
"""

import csv
import json
import os
import subprocess
import time
from pathlib import Path

import torch
from safetensors.torch import load_file, save

from ..errors import MnistlabError
from ..models.provenance import build_from_meta

METRIC_COLUMNS = ["epoch", "train_loss", "train_acc", "test_loss", "test_acc", "lr", "seconds"]


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Temporary file, fsync, rename: a crash leaves the old file or the new one, never half of one."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def write_json(path: Path, data) -> None:
    atomic_write_text(path, json.dumps(data, indent=2) + "\n")


def read_json(path: Path) -> dict:
    try:
        data = json.loads(Path(path).read_text())
    except (FileNotFoundError, NotADirectoryError):
        raise MnistlabError(f"{path}: not found") from None
    except (ValueError, UnicodeDecodeError) as e:
        raise MnistlabError(f"{path}: not valid JSON: {e}") from None
    except OSError as e:
        raise MnistlabError(f"{path}: cannot read ({e.strerror or e})") from None
    if not isinstance(data, dict):
        raise MnistlabError(f"{path}: not a JSON object")
    return data


def atomic_save_tensors(tensors: dict, path: Path, metadata: dict | None = None) -> None:
    """safetensors bytes written by atomic_write_bytes (temporary file, fsync, rename, the umask's mode)."""
    atomic_write_bytes(path, save(tensors, metadata=metadata))


def save_weights(model: torch.nn.Module, path: Path) -> None:
    atomic_save_tensors({k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}, path)


def new_run_dir(out: str | Path | None, model: str, overwrite: bool = False) -> Path:
    """Create the run folder; refuse one that already holds a run unless `overwrite`."""
    path = Path(out) if out else Path("runs") / f"{time.strftime('%Y%m%d-%H%M%S')}-{model}"
    if (path / "config.json").exists() or (path / "metrics.csv").exists():
        if not overwrite:
            raise MnistlabError(f"{path}: already holds a run; choose another --out, or pass --overwrite")
        for name in ("metrics.csv", "log.txt"):
            (path / name).unlink(missing_ok=True)
    return make_dir(path, "the run folder")


def make_dir(path: Path, what: str = "the folder") -> Path:
    """mkdir -p, with one line instead of a traceback when `path` is a file or cannot be created."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise MnistlabError(f"{path}: exists and is not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise MnistlabError(f"{path}: cannot create {what} ({e.strerror or e})") from None
    return path


def git_commit() -> str | None:
    try:
        r = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, cwd=Path(__file__).parent
        )
        return r.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def read_metrics(run_dir: Path) -> list[dict]:
    path = Path(run_dir) / "metrics.csv"
    if not path.is_file():
        raise MnistlabError(f"{run_dir}: no metrics.csv; is this a run directory?")
    with open(path, newline="") as f:
        try:
            return [
                {k: (float(v) if k != "epoch" else int(float(v))) for k, v in row.items() if v != ""}
                for row in csv.DictReader(f)
            ]
        except (ValueError, TypeError, UnicodeDecodeError, csv.Error) as e:
            raise MnistlabError(f"{path}: not a valid metrics file ({e})") from None


def write_metrics(run_dir: Path, rows: list[dict]) -> None:
    """Rewrite metrics.csv whole (atomically) after each epoch; columns in order of first appearance, empty
    where an epoch has no value (an epoch not evaluated under eval_every)."""
    if not rows:
        return
    import io

    buf = io.StringIO()
    fields = list(dict.fromkeys(k for row in rows for k in row))
    writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(Path(run_dir) / "metrics.csv", buf.getvalue())


def load_model(
    run_dir: str | Path, device: str = "cpu", model: torch.nn.Module | None = None, trust_code: bool = False
) -> torch.nn.Module:
    """The trained network of a run directory, in eval mode.

    Takes (N, 1, 28, 28) float32 normalised with model.json's mean/std; returns (N, 10) logits or
    log-probabilities (the ref models end in log_softmax). A registered model is rebuilt by name. A run of
    the user's own code needs the network passed in (`model=Net()`, its weights are loaded into it) or
    `trust_code=True` to build it from the run's copy of the code (models/provenance.py).
    """
    run_dir = Path(run_dir)
    meta = read_json(run_dir / "model.json")
    weights = run_dir / "model.safetensors"
    if model is None:
        model = build_from_meta(run_dir, meta, trust_code)
    if not weights.is_file():
        raise MnistlabError(f"{weights}: not found")
    try:
        state = load_file(str(weights), device=device)
    except Exception as e:  # noqa: BLE001 - safetensors raises several types for a bad file
        raise MnistlabError(f"{weights}: not a valid safetensors file ({e})") from None
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        first = str(e).strip().splitlines()[-1].strip()
        raise MnistlabError(f"{weights}: weights do not fit model {meta.get('name')}: {first}") from None
    return model.to(device).eval()


class RunLog:
    """Prints a line and appends it to log.txt (path None: prints only)."""

    def __init__(self, path: Path | None, quiet: bool = False):
        self.path, self.quiet = path, quiet

    def __call__(self, line: str = "") -> None:
        if not self.quiet:
            print(line, flush=True)
        if self.path is not None:
            with open(self.path, "a") as f:
                f.write(line + "\n")
