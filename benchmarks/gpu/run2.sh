#!/usr/bin/env bash
# The second lease of 2026-12-04 (run.sh ran out of its budget before these): the bench over 1,000 steps, to
# spread the fixed costs of 200-step benches over more steps, the 8-epoch schedule's seeds 1-2, and
# torch.compile.   OUT=DIR bash benchmarks/gpu/run2.sh
# (The 1,000-step benches of benchmarks/results/2026-12-04-h200/ come from a third lease that reran these two
# lines after a fix to the notebook side's step count.)
set -u
OUT=${OUT:?set OUT to an empty folder}
DEVICE=cuda
BUDGET=${BUDGET:-450}
EXTRA=
ML=${ML:-python3 -m mnistlab}
export PYTHONUNBUFFERED=1
mkdir -p "$OUT/runs"
. "$(dirname "$0")/lib.sh"
for m in mnist-8k ref1; do
  echo "== $(date +%T) bench $m 1000 steps"
  timeout 100 $ML bench --device cuda --model "$m" --steps 1000 --json > "$OUT/bench1000-$m.json"
done
timed m8-e8-fp32-s1 40 --config mnist-8k --seed 1 --epochs 8
timed m8-e8-fp32-s2 40 --config mnist-8k --seed 2 --epochs 8
timed m8-fp32-compile-s0 90 --config mnist-8k --seed 0 --set compile=true
pack_runs
echo "== $(date +%T) done"
