"""The report at the end of every `mnistlab train`, with its pictures drawn two ways:
python benchmarks/ab/report_pictures.py [RUN] > benchmarks/results/<YYYY-MM-DD>-<machine>/report-pictures.txt
(default RUN: results/ref3/seed0, copied to a temporary folder; nothing is written into it)

"before": inspection/plots.py as of 856d097 (read from git): supersampled pictures scaled down with a
LANCZOS resize, PNGs at zlib's default level, each digit scaled up by a PIL resize. "after": the working
tree's plots.py (a 2x2 box average, zlib level 1, digits scaled up by numpy.repeat). Both write the whole
report (report.md, report.html, four PNGs) from the same model and test outputs, as `mnistlab train` does
with its final test pass; interleaved, seconds per report as the median of 7 rounds, and the PNGs' sizes.
"""

import importlib.util
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from mnistlab.data import verified
from mnistlab.inspection import plots as after
from mnistlab.inspection import report
from mnistlab.system import cpu_name
from mnistlab.training.evaluate import predict_logits
from mnistlab.training.rundir import load_model, read_json

BEFORE = "856d097"
torch.set_num_threads(2)
src = subprocess.run(["git", "show", f"{BEFORE}:src/mnistlab/inspection/plots.py"], capture_output=True, text=True,
                     check=True).stdout  # fmt: skip
spec = importlib.util.spec_from_loader("plots_before", loader=None)
before = importlib.util.module_from_spec(spec)
exec(compile(src, f"{BEFORE}:plots.py", "exec"), before.__dict__)

run = Path(sys.argv[1] if len(sys.argv) > 1 else "results/ref3/seed0")
with tempfile.TemporaryDirectory() as tmp:
    dirs = {}
    for side in ("before", "after"):
        dirs[side] = Path(tmp) / side
        shutil.copytree(run, dirs[side], ignore=shutil.ignore_patterns("report*", "*.png", "checkpoint*"))
    model = load_model(dirs["after"])
    meta = read_json(run / "model.json")
    test = verified.load_split(meta.get("dataset", "mnist"), False)
    outputs = predict_logits(model, test.images, meta["normalize"]["mean"], meta["normalize"]["std"])
    times = {"before": [], "after": []}
    for r in range(8):  # round 0 warms up
        for side, module in (("before", before), ("after", after)):
            report.plots = module
            t0 = time.perf_counter()
            report.write_report(dirs[side], model=model, test_outputs=outputs)
            if r:
                times[side].append(time.perf_counter() - t0)
    report.plots = after
    print(f"# {cpu_name()}; torch {torch.__version__}; report of {run} (model and test outputs given)")
    for side in ("before", "after"):
        sizes = {p.name: p.stat().st_size for p in sorted(dirs[side].glob("*.png"))}
        print(f"{side}: {statistics.median(times[side]):.3f} s per report; PNG bytes "
              + ", ".join(f"{k} {v:,}" for k, v in sizes.items()))  # fmt: skip
    b, a = statistics.median(times["before"]), statistics.median(times["after"])
    print(f"after / before: {b / a:.2f}x faster, {b - a:.3f} s less per report")
