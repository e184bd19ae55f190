"""Runs compared at a glance: one row per run directory found under a folder (default `runs/`)."""

import time
from pathlib import Path

from ..errors import MnistlabError
from ..training.rundir import read_json, read_metrics

COLUMNS = ["name", "model", "params", "epochs", "best", "final", "last3", "seconds", "date"]
DESCENDING = {"best", "final", "last3"}  # accuracies sort best first; everything else ascending


def find_runs(root: Path) -> list[Path]:
    """Every folder under `root` (itself included, any depth: repeat puts seeds one level down) holding a run."""
    return sorted({p.parent for p in Path(root).rglob("metrics.csv") if (p.parent / "model.json").is_file()})


def run_row(run_dir: Path, root: Path) -> dict:
    """One run's comparison row; accuracies in percent, `last3` the minimum over the last three epochs."""
    meta = read_json(run_dir / "model.json")
    metrics = read_metrics(run_dir)
    accs = [r["test_acc"] for r in metrics if "test_acc" in r]
    started = run_dir / "config.json" if (run_dir / "config.json").is_file() else run_dir / "model.json"
    return {
        "name": str(run_dir.relative_to(root)) if run_dir != root else run_dir.name,
        "model": meta.get("name", "?"),
        "params": meta.get("params"),
        "epochs": len(metrics),
        "best": max(accs) if accs else None,
        "final": accs[-1] if accs else None,
        "last3": min(accs[-3:]) if len(accs) >= 3 else None,  # fewer than 3 epochs: nothing to show
        "seconds": round(sum(r.get("seconds", 0.0) for r in metrics), 1),
        "date": time.strftime("%Y-%m-%d %H:%M", time.localtime(started.stat().st_mtime)),
    }


def list_runs(root: str | Path = "runs", sort: str = "date") -> tuple[list[dict], list[str]]:
    """(rows, skipped): skipped names the run folders that could not be read, with why."""
    root = Path(root)
    if not root.is_dir():
        raise MnistlabError(f"{root}: no such folder")
    if sort not in COLUMNS:
        raise MnistlabError(f"cannot sort by {sort!r}; keys: {', '.join(COLUMNS)}")
    rows, skipped = [], []
    for run_dir in find_runs(root):
        try:
            rows.append(run_row(run_dir, root))
        except (MnistlabError, ValueError, KeyError) as e:
            skipped.append(f"{run_dir}: {e}")
    missing = [r for r in rows if r[sort] is None]  # runs without the value go last, whatever the order
    rows = sorted((r for r in rows if r[sort] is not None), key=lambda r: r[sort], reverse=sort in DESCENDING)
    return rows + missing, skipped
