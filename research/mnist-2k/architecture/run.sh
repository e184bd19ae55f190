#!/usr/bin/env bash
# The mnist-2k candidates on the validation split (README.md beside this file): seeds 0-2 of each, then the
# rule's choice printed. Run from the repository root: bash research/mnist-2k/architecture/run.sh
set -euo pipefail
here=research/mnist-2k/architecture
declare -A kw=(
  [i2]='{stem = [4, 8], trans = 8, body = [12, 14, 16, 18], sep = true, padded = 1, dropout = 0.0}'
  [k]='{stem = [4, 8], trans = 8, body = [16, 20, 20], sep = true, padded = 1, dropout = 0.0}'
)
for seed in 0 1 2; do
  for c in i2 k; do
    [ -f "$here/$c-seed$seed/model.safetensors" ] && grep -q "^15," "$here/$c-seed$seed/metrics.csv" && continue
    .venv/bin/mnistlab train --config mnist-5k --val-size 5000 --hold-test --seed "$seed" --threads 1 --no-report \
      --quiet --overwrite --set "model_kwargs=${kw[$c]}" --out "$here/$c-seed$seed"
  done
done
.venv/bin/python - "$here" <<'PY'
import csv, sys
from pathlib import Path
here = Path(sys.argv[1])
params = {"i2": 1954, "k": 1984}
mean = {}
for c in params:
    vals = [float(list(csv.DictReader(open(here / f"{c}-seed{s}" / "metrics.csv")))[-1]["val_acc"]) for s in range(3)]
    mean[c] = sum(vals) / 3
    print(c, params[c], "params, final val acc per seed", vals, "mean", round(mean[c], 4))
a, b = sorted(mean, key=mean.get, reverse=True)
pick = a if mean[a] - mean[b] >= 0.05 else min(params, key=params.get)
print("chosen by the rule:", pick)
PY
