#!/bin/bash
# Time to a passing model, side by side in one run: the source notebooks' loop with ref3's recipe (15 epochs,
# a test pass after each, as notebook 003 trained to 99.4%) against `mnistlab train --config mnist-speedrun`,
# both timed as whole processes; then the whole-epoch comparison of each reference network and of a network
# outside the zoo (examples/my_net.py with ref3's recipe). From the repository root, on a quiet machine
# (about 20 minutes): bash benchmarks/speedrun.sh     OUT=<folder> writes there (default
# benchmarks/results/<today>); STEPS=epoch runs only the whole-epoch part, STEPS=speedrun only the first.
set -euo pipefail
cd "$(dirname "$0")/.."
. .venv/bin/activate
B=${OUT:-benchmarks/results/$(date +%F)}
STEPS=${STEPS:-speedrun epoch}
mkdir -p "$B"
lscpu > "$B/lscpu.txt"
if [[ $STEPS == *speedrun* ]]; then
  /usr/bin/time -f "%e s wall, %U s user, %S s sys" -o "$B/notebook-ref3-15-epochs.time" \
    python -m mnistlab.inspection.notebook --config ref3 --epochs 15 | tee "$B/notebook-ref3-15-epochs.txt"
  rm -rf "$B/speedrun-run"
  /usr/bin/time -f "%e s wall, %U s user, %S s sys" -o "$B/speedrun.time" \
    mnistlab train --config mnist-speedrun --out "$B/speedrun-run" | tee "$B/speedrun.txt"
  rm -f "$B/speedrun-run/checkpoint.safetensors"
  python - "$B" <<'PY' | tee "$B/speedrun-ratio.txt"
import csv, sys
from pathlib import Path
b = Path(sys.argv[1])
wall = lambda f: float((b / f).read_text().split()[0])
rows = list(csv.DictReader(open(b / "speedrun-run" / "metrics.csv")))
train_s = sum(float(r["seconds"]) for r in rows)
nb = wall("notebook-ref3-15-epochs.time")
print(f"notebooks' loop, ref3's recipe, 15 epochs + a test pass after each, whole process: {nb:.1f} s")
print(f"mnist-speedrun: final test accuracy {rows[-1]['test_acc']}% after {len(rows)} epochs; "
      f"training {train_s:.1f} s (every step and the test pass), whole process {wall('speedrun.time'):.1f} s")
print(f"ratio: {nb / train_s:.2f}x on training time, {nb / wall('speedrun.time'):.2f}x process to process")
PY
fi
if [[ $STEPS == *epoch* ]]; then
  for m in ref1 ref2 ref3 ref4 examples/my_net.py:Net; do
    name=$(basename "${m%%:*}" .py)
    mnistlab bench --epoch --model "$m" --rounds 3 --json > "$B/epoch-$name.json"
    python -c "import json,sys; d=json.load(open(sys.argv[1])); print(d['model'], d['notebook_s'], d['mnistlab_s'], f\"{d['speedup']:.2f}x\")" "$B/epoch-$name.json"
  done | tee "$B/epoch-summary.txt"
fi
