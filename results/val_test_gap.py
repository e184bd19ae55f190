"""How far validation accuracy sits above test accuracy, per recipe, over a class's research runs.

From the repository root:

    python results/val_test_gap.py CLASS        (fashion-20k: results/val_test_gap-fashion-20k.txt)

Over the committed runs of CLASS (research/CLASS/QUESTION/RUN, and any other run folder under a CLASS folder
that held out a validation split) whose last metrics.csv row has both val_acc and test_acc (runs with
--hold-test have none), grouped by recipe (the run's path less its -seedN / -sN suffix): mean final val, mean
final test, gap. The test figures here were never used to choose anything; this only measures the split's bias.
"""

import csv
import json
import re
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def runs_of(name: str) -> list[Path]:
    runs = sorted(p.parent for top in ("research", "results") for p in (ROOT / top).rglob("metrics.csv"))
    runs = [r for r in runs if name in r.relative_to(ROOT).parts and (r / "config.json").is_file()]
    return [r for r in runs if json.loads((r / "config.json").read_text()).get("val_size", 0) > 0]


if __name__ == "__main__":
    groups: dict[str, list[tuple[float, float]]] = {}
    for run in runs_of(sys.argv[1]):
        last = list(csv.DictReader((run / "metrics.csv").open()))[-1]
        if last.get("val_acc") and last.get("test_acc"):
            parts = run.relative_to(ROOT).parts
            recipe = re.sub(r"-(seed|s)\d+$", "", "/".join(parts[parts.index(sys.argv[1]) + 1 :]))
            groups.setdefault(recipe, []).append((float(last["val_acc"]), float(last["test_acc"])))
    print(f"{'recipe':<40} {'runs':>4} {'val':>7} {'test':>7} {'gap':>6}")
    for name, pairs in groups.items():
        val, test = statistics.mean(v for v, _ in pairs), statistics.mean(t for _, t in pairs)
        print(f"{name:<40} {len(pairs):>4} {val:7.2f} {test:7.2f} {val - test:+6.2f}")
