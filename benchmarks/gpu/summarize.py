"""Tables for benchmarks/README.md's GPU section from the folder `benchmarks/gpu/run.sh` wrote.

    python benchmarks/gpu/summarize.py DIR [--target 99.4]

DIR holds walls.txt, bench-*.json and runs.tgz (or runs/). Time to the target is the sum of metrics.csv's
`seconds` (each epoch's training steps plus its test evaluation) through the first epoch whose test accuracy
reaches it; the whole process (Python start, imports, reading and verifying the data, CUDA start-up, writing
the run folder) is the wall column. An epoch's test figure is read only to time the run, never to choose it.
"""

import csv
import json
import re
import statistics
import sys
import tarfile
import tempfile
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def runs_of(folder: Path):
    if (folder / "runs").is_dir():
        yield folder / "runs"
        return
    with tempfile.TemporaryDirectory() as tmp, tarfile.open(folder / "runs.tgz") as tar:
        tar.extractall(tmp, filter="data")
        yield Path(tmp) / "runs"


def main(argv: list[str]) -> None:
    folder = Path(argv[0])
    target = float(argv[argv.index("--target") + 1]) if "--target" in argv else 99.4
    walls = dict(re.findall(r"^(\S+) rc=0 wall_s=([\d.]+)", (folder / "walls.txt").read_text(), re.M))
    if (folder / "machine.txt").exists():
        print((folder / "machine.txt").read_text().strip(), "\n")
    for f in sorted(folder.glob("bench*.json")):
        if f.stat().st_size == 0:
            print(f"{f.name}: empty (the bench did not finish)")
            continue
        b = json.loads(f.read_text())
        print(f"bench {b['model']} on {b['device']}: notebook {1000 * b['notebook_s_per_step']:.2f} ms/step, "
              f"mnistlab {1000 * b['mnistlab_s_per_step']:.2f} ms/step (bf16 {b['mnistlab_bf16']}), "
              f"speed-up {b['speedup']:.2f}x; mnistlab {b['mnistlab_gflops']:.0f} GFLOP/s = "
              f"{100 * b['mnistlab_share_of_peak']:.2f}% of {b['peak_gflops']:.0f} ({b['peak_formula']})")  # fmt: skip
    print(f"\n| run | epochs | final test acc | first epoch >= {target}% | time to it (epochs' s) | "
          "all epochs (s) | s per epoch (median) | whole process (s) |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    groups: dict[str, list] = {}
    with runs_of(folder) as runs:
        metrics = {run.name: list(csv.DictReader((run / "metrics.csv").open())) for run in sorted(runs.iterdir())}
    for name, rows in metrics.items():
        if not rows:
            continue
        secs = [float(r["seconds"]) for r in rows]
        hit = next((i for i, r in enumerate(rows) if float(r["test_acc"]) >= target), None)
        to_hit = sum(secs[: hit + 1]) if hit is not None else None
        final = float(rows[-1]["test_acc"])
        wall = walls.get(name, "n/a (stopped)")
        hit_s = "never" if hit is None else f"{hit + 1}"
        to_s = "–" if to_hit is None else f"{to_hit:.1f}"
        print(f"| {name} | {len(rows)} | {final:.2f}% | {hit_s} | {to_s} | {sum(secs):.1f} | "
              f"{statistics.median(secs):.2f} | {wall} |")  # fmt: skip
        groups.setdefault(re.sub(r"-s\d+$", "", name), []).append((final, to_hit))
    print("\n| setting | runs | final test acc, mean (min) | reached the target | time to it, mean (max) |")
    print("|---|---:|---:|---:|---:|")
    for setting, g in groups.items():
        finals, hits = [x[0] for x in g], [x[1] for x in g if x[1] is not None]
        t = f"{statistics.mean(hits):.1f} s ({max(hits):.1f})" if hits else "–"
        acc = f"{statistics.mean(finals):.2f}% ({min(finals):.2f})"
        print(f"| {setting} | {len(g)} | {acc} | {len(hits)}/{len(g)} | {t} |")


if __name__ == "__main__":
    main(sys.argv[1:])
