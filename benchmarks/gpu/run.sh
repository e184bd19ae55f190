#!/usr/bin/env bash
# The GPU measurements of benchmarks/README.md, as one script so that one short lease of a machine runs them all.
#   OUT=DIR bash benchmarks/gpu/run.sh      (repo root; MNIST in $MNISTLAB_DATA/mnist or ~/.cache/mnistlab/mnist)
#   python benchmarks/gpu/summarize.py DIR  (the tables of the README's GPU section)
# Most important first, since a lease can end: the preset run, the bench, bf16, more seeds, a short schedule,
# torch.compile. A step that would start after BUDGET seconds is skipped and says so.
# A dry run on the CPU: OUT=$(mktemp -d) DEVICE=cpu EXTRA="--max-steps 30" BENCH_STEPS=5 bash benchmarks/gpu/run.sh
set -u
OUT=${OUT:?set OUT to an empty folder}
DEVICE=${DEVICE:-cuda}
SEEDS=${SEEDS:-"1 2"}  # beside seed 0
BUDGET=${BUDGET:-450}
EXTRA=${EXTRA:-}
ML=${ML:-python3 -m mnistlab}
export PYTHONUNBUFFERED=1
mkdir -p "$OUT/runs"
. "$(dirname "$0")/lib.sh"
{
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv 2>&1
  python3 -c "import sys, torch; print('python', sys.version.split()[0], 'torch', torch.__version__, 'cuda', torch.version.cuda)"
  echo "cpu cores: $(nproc); $(grep -m1 'model name' /proc/cpuinfo)"
} > "$OUT/machine.txt"
cat "$OUT/machine.txt"
timed m8-fp32-s0 200 --config mnist-8k --seed 0
for m in mnist-8k ref1; do
  echo "== $(date +%T) bench $m"
  timeout 150 $ML bench --device "$DEVICE" --model "$m" --steps "${BENCH_STEPS:-200}" --json > "$OUT/bench-$m.json"
done
timed m8-bf16-s0 200 --config mnist-8k --seed 0 --set amp=true
for s in $SEEDS; do timed "m8-fp32-s$s" 200 --config mnist-8k --seed "$s"; done
for s in $SEEDS; do timed "m8-bf16-s$s" 200 --config mnist-8k --seed "$s" --set amp=true; done
for s in 0 $SEEDS; do timed "m8-e8-fp32-s$s" 150 --config mnist-8k --seed "$s" --epochs 8; done
timed m8-fp32-compile-s0 300 --config mnist-8k --seed 0 --set compile=true
pack_runs
echo "== $(date +%T) done in $(( $(date +%s) - T0 )) s"
