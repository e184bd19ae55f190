#!/usr/bin/env bash
# The mnist-speedrun candidates on the validation split (README.md beside this file): seeds 0-2 of each, one
# after the other with nothing else running, then the rule's choice printed.
# Run from the repository root: bash research/mnist-speedrun/architecture/run.sh
set -euo pipefail
here=research/mnist-speedrun/architecture
declare -A model=([patch]=mnist-8k [s2]=mnist-8k [m20k]=mnist-20k)
declare -A kw=(
  [patch]='{stem = [16], stem_kernel = 4, stem_stride = 2, pool = false, sep = false, dropout = 0.0, trans = 16, body = [28, 28, 28]}'
  [s2]='{stem = [8, 16], stem_stride = [1, 2], pool = false, sep = false, dropout = 0.0, trans = 16, body = [24, 28, 28]}'
  [m20k]='{dropout = 0.0}'
)
declare -A epochs=([patch]=8 [s2]=7 [m20k]=5)
for seed in 0 1 2; do
  for c in patch s2 m20k; do
    out="$here/$c-seed$seed"
    [ -f "$out/model.safetensors" ] && grep -q "^${epochs[$c]}," "$out/metrics.csv" && continue
    .venv/bin/mnistlab train --config "$here/recipe.toml" --model "${model[$c]}" --set "model_kwargs=${kw[$c]}" \
      --epochs "${epochs[$c]}" --val-size 5000 --hold-test --seed "$seed" --no-report --quiet --overwrite --out "$out"
  done
done
.venv/bin/python - "$here" <<'PY'
import csv, statistics, sys
from pathlib import Path
here = Path(sys.argv[1])
val, secs = {}, {}
for c in ("patch", "s2", "m20k"):
    rows = [list(csv.DictReader(open(here / f"{c}-seed{s}" / "metrics.csv"))) for s in range(3)]
    val[c] = statistics.mean(float(r[-1]["val_acc"]) for r in rows)
    secs[c] = statistics.median(sum(float(x["seconds"]) for x in r) for r in rows)
    print(f"{c}: final val acc per seed {[float(r[-1]['val_acc']) for r in rows]}, mean {val[c]:.3f}; "
          f"training seconds per seed {[round(sum(float(x['seconds']) for x in r), 1) for r in rows]}")
fast = [c for c in val if secs[c] <= 50]
best = max(fast, key=val.get) if fast else None
near = [c for c in fast if val[best] - val[c] <= 0.03]
print("chosen by the rule:", min(near, key=secs.get) if best else "none (no candidate within 50 s)")
PY
