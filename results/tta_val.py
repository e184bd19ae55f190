"""Validation accuracy of every committed tuning run (its weights are shipped) under each TTA view set:
python results/tta_val.py > results/tta_val.txt          (every class)
python results/tta_val.py fashion-20k > results/fashion-20k/tuning/tta_val.txt   (the named classes only)

This is what chose `shift` for results/tta.py: held-out training images (each run's --val-size 5000
split, `mnistlab eval RUN --split val --tta NAME`), never the test set.
"""

import functools
import statistics
import sys
from pathlib import Path

import torch

from mnistlab.data import carve_validation, load_split
from mnistlab.rundir import load_model, read_json
from mnistlab.tta import VIEWS, evaluate_tta

HERE = Path(__file__).parent
train_split = functools.cache(lambda dataset: load_split(dataset, True))  # read and verified once per dataset

if __name__ == "__main__":
    torch.set_num_threads(1)
    print(f"{'run':44s}" + "".join(f"{t:>11s}" for t in VIEWS))
    gains = {}
    classes = sys.argv[1:] or ["*"]
    for run in sorted(p.parent for c in classes for p in HERE.glob(f"{c}/tuning/*/model.safetensors")):
        meta, cfg = read_json(run / "model.json"), read_json(run / "config.json")
        _, val = carve_validation(train_split(meta["dataset"]), cfg["val_size"])
        model, norm = load_model(run), meta["normalize"]
        accs = {t: 100 * evaluate_tta(model, val, norm["mean"], norm["std"], v).accuracy for t, v in VIEWS.items()}
        print(f"{str(run.relative_to(HERE)):44s}" + "".join(f"{a:11.2f}" for a in accs.values()), flush=True)
        for t in VIEWS:
            gains.setdefault((meta["dataset"], t), []).append(accs[t] - accs["none"])
    print("\nmean gain over no TTA, points (runs):")
    for (dataset, t), g in gains.items():
        print(f"  {dataset:14s} {t:10s} {statistics.mean(g):+.3f} ({len(g)})")
