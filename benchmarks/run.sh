#!/bin/bash
# The benchmark set on this machine, from the repository root: bash benchmarks/run.sh  (about 15 minutes; run it
# on a quiet machine — speeds are compared as ratios within this one run, never against remembered figures).
# Writes benchmarks/results/<today's date>/ (rename it <date>-<machine>, as the folders there are named).
set -euo pipefail
cd "$(dirname "$0")/.."
. .venv/bin/activate
# OUT=benchmarks/results/<folder> writes there instead; FULL= picks the full-run settings, AB=0 skips the two
# A/B scripts.
B=${OUT:-benchmarks/results/$(date +%F)}
FULL=${FULL:-fp32 bf16 fp32-replicas2 bf16-replicas2}
mkdir -p $B/runs
# mnistlab's side with its default levers on 2 threads (bf16 where native, 2 replicas), then with 1 replica.
mnistlab bench --model ref1 --steps 200 --json > $B/ref1.json
mnistlab bench --model mnist-8k --steps 200 --json > $B/mnist-8k.json
mnistlab bench --model ref1 --steps 200 --replicas 1 --json > $B/ref1-replicas1.json
mnistlab bench --model mnist-8k --steps 200 --replicas 1 --json > $B/mnist-8k-replicas1.json
# ref1 has dropout: bench's mnistlab side draws its masks with fast_dropout (dropout.py); this is nn.Dropout's.
mnistlab bench --model ref1 --steps 200 --plain-dropout --json > $B/ref1-plain-dropout.json
# A full 15-epoch mnist-8k run with a test evaluation after every epoch, timed as a whole process:
# the preset (fp32, as the results/ runs), bf16 autocast, and each with two replicas (parallel.py).
for v in $FULL; do
  amp=$([[ $v == bf16* ]] && echo true || echo false)
  rep=$([[ $v == *replicas2 ]] && echo 2 || echo 1)
  rm -rf $B/runs/mnist-8k-$v
  /usr/bin/time -f "%e s wall, %U s user, %S s sys" -o $B/runs/mnist-8k-$v.time \
    mnistlab train --config mnist-8k --set amp=$amp --set replicas=$rep --out $B/runs/mnist-8k-$v --quiet --no-report
  rm -f $B/runs/mnist-8k-$v/checkpoint.safetensors
done
lscpu > $B/lscpu.txt
[[ ${AB:-1} == 0 ]] && exit 0
python benchmarks/ab/bf16.py 2 mnist-8k ref1 ref3 | tee $B/bf16.txt
python benchmarks/ab/eval_batch.py 2 mnist-8k | tee $B/eval_batch.txt
