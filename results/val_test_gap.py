"""How far validation accuracy sits above test accuracy: python results/val_test_gap.py CLASS
(output for fashion-20k: results/fashion-20k/tuning/val_test_gap.txt)

Over the tuning runs of CLASS whose last metrics.csv row has both val_acc and test_acc (runs with --hold-test
have none), grouped by recipe (the run name less its -sN seed suffix): mean final val, mean final test, gap.
The test figures here were never used to choose anything; this only measures the split's bias.
"""

import csv
import re
import statistics
import sys
from pathlib import Path

groups: dict[str, list[tuple[float, float]]] = {}
for run in sorted((Path(__file__).parent / sys.argv[1] / "tuning").iterdir()):
    if not (run / "metrics.csv").exists():
        continue
    last = list(csv.DictReader((run / "metrics.csv").open()))[-1]
    if last.get("val_acc") and last.get("test_acc"):
        groups.setdefault(re.sub(r"-s\d+$", "", run.name), []).append((float(last["val_acc"]), float(last["test_acc"])))
print(f"{'recipe':<22} {'runs':>4} {'val':>7} {'test':>7} {'gap':>6}")
for name, pairs in groups.items():
    val, test = statistics.mean(v for v, _ in pairs), statistics.mean(t for _, t in pairs)
    print(f"{name:<22} {len(pairs):>4} {val:7.2f} {test:7.2f} {val - test:+6.2f}")
