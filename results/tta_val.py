"""Validation accuracy of every committed run that held out a validation split, under each TTA view set.

From the repository root:

    python results/tta_val.py > results/tta_val.txt                                  (every run)
    python results/tta_val.py fashion-20k > results/tta_val-fashion-20k.txt          (runs under a class's folder)

The runs are the research runs (research/, research/README.md) and any other committed run folder whose
config.json has a val_size (the shipped seeds in results/CLASS/seedN hold out none, so they are skipped).
Each is evaluated on its own --val-size split (`mnistlab eval RUN --split val --tta NAME` gives one cell),
never on the test set; this is what chose the TTA views of results/tta.py (research/tta-views/).
"""

import functools
import statistics
import sys
from pathlib import Path

import torch

from mnistlab.data import carve_validation, load_split
from mnistlab.inspection.tta import VIEWS, evaluate_tta
from mnistlab.training.rundir import load_model, read_json

ROOT = Path(__file__).resolve().parent.parent
train_split = functools.cache(lambda dataset: load_split(dataset, True))  # read and verified once per dataset


def val_runs(classes: list[str]) -> list[Path]:
    """Run folders with weights and a validation split; with `classes`, those under a folder of that name."""
    runs = sorted(p.parent for top in ("research", "results") for p in (ROOT / top).rglob("model.safetensors"))
    runs = [r for r in runs if read_json(r / "config.json").get("val_size", 0) > 0]
    return [r for r in runs if not classes or set(classes) & set(r.relative_to(ROOT).parts)]


if __name__ == "__main__":
    torch.set_num_threads(1)
    print(f"{'run':60s}" + "".join(f"{t:>11s}" for t in VIEWS))
    gains = {}
    for run in val_runs(sys.argv[1:]):
        meta, cfg = read_json(run / "model.json"), read_json(run / "config.json")
        _, val = carve_validation(train_split(meta["dataset"]), cfg["val_size"])
        model, norm = load_model(run), meta["normalize"]
        accs = {t: 100 * evaluate_tta(model, val, norm["mean"], norm["std"], v).accuracy for t, v in VIEWS.items()}
        print(f"{str(run.relative_to(ROOT)):60s}" + "".join(f"{a:11.2f}" for a in accs.values()), flush=True)
        for t in VIEWS:
            gains.setdefault((meta["dataset"], t), []).append(accs[t] - accs["none"])
    print("\nmean gain over no TTA, points (runs):")
    for (dataset, t), g in gains.items():
        print(f"  {dataset:14s} {t:10s} {statistics.mean(g):+.3f} ({len(g)})")
