"""Test-time-augmentation figures for the shipped seeds (from the repository root): python results/tta.py [CLASS ...]

For each class (default: every folder with a repeat.json) evaluates results/CLASS/seed0..4 on the test
set with its dataset's TTA views (softmax averaged; `mnistlab.inspection.tta`) and writes results/CLASS/tta.json:
MNIST "shift", the image and its four 1-pixel shifts, chosen on validation splits on 2026-11-22 before any
TTA test figure was computed; Fashion-MNIST "shift-flip", those five views and their mirror images, chosen on
the fashion-20k research runs' validation splits on 2026-12-03 (+0.56 points over no TTA, +0.19 over "shift");
research/tta-views/. These figures stand beside the plain final-epoch ones in the README, never instead of
them. Each seed's figure is also `mnistlab eval results/CLASS/seedN --tta shift`.
"""

import functools
import json
import statistics
import sys
from pathlib import Path

import torch

from mnistlab.data import load_split
from mnistlab.inspection.tta import VIEWS, evaluate_tta
from mnistlab.training.rundir import load_model, read_json

HERE = Path(__file__).parent
TTA = {"mnist": "shift", "fashion-mnist": "shift-flip"}  # dataset -> view set, each chosen on validation
test_split = functools.cache(lambda dataset: load_split(dataset, False))  # read and verified once per dataset


def class_tta(name: str) -> dict:
    seeds, sets = [], set()
    for run in sorted((HERE / name).glob("seed[0-9]*")):
        meta = read_json(run / "model.json")
        dataset = meta.get("dataset", "mnist")
        split, tta = test_split(dataset), TTA[dataset]
        sets.add(tta)
        norm = meta["normalize"]
        r = evaluate_tta(load_model(run), split, norm["mean"], norm["std"], VIEWS[tta])
        seeds.append({"seed": int(run.name[4:]), "test_acc_tta": round(100 * r.accuracy, 4)})
    accs = [s["test_acc_tta"] for s in seeds]
    (tta,) = sets  # a class's seeds share one dataset
    return {
        "tta": tta,
        "views": VIEWS[tta],
        "seeds": seeds,
        "test_acc_tta": {
            "mean": round(statistics.mean(accs), 4),
            "std": round(statistics.stdev(accs), 4) if len(accs) > 1 else 0.0,
            "min": min(accs),
            "max": max(accs),
        },
        "command": f"python results/tta.py {name}",
    }


if __name__ == "__main__":
    torch.set_num_threads(1)
    names = sys.argv[1:] or sorted(p.parent.name for p in HERE.glob("*/repeat.json"))
    for name in names:
        out = class_tta(name)
        (HERE / name / "tta.json").write_text(json.dumps(out, indent=2) + "\n")
        t = out["test_acc_tta"]
        print(f"{name}: TTA {out['tta']} {t['mean']:.2f}% ± {t['std']:.2f}, min {t['min']:.2f}%", flush=True)
