#!/bin/bash
# Whole runs, side by side: the mnist-8k preset's full 15-epoch run (test evaluation after every epoch,
# 2 threads) with the stem's max-pool after its ReLU (the code before commit "CompactNet: the stem max-pools
# before its ReLU", checked out in a git worktree at WT and put first on PYTHONPATH) and before it (this
# checkout), interleaved, 1 and 2 replicas; each timed as a whole process. The two must also agree bit for
# bit. From the repository root:
#   git worktree add ../mnistlab-before 1c4e097~1
#   WT=../mnistlab-before OUT=benchmarks/results/<YYYY-MM-DD>-<machine> bash benchmarks/ab/full_pool_relu.sh
# (the measurement of 2026-12-05 is in benchmarks/results/2026-12-05-epyc/runs/; research/speed/pool-before-relu).
set -euo pipefail
cd "$(dirname "$0")/../.."
WT=$(cd "${WT:?set WT to a git worktree of the commit before the change}" && pwd)
R=${OUT:?set OUT to the results folder, e.g. benchmarks/results/$(date +%F)-$(hostname -s)}/runs
mkdir -p "$R"
for rep in 1 2; do
  for order in relu-pool pool-relu; do
    name=mnist-8k-$order-replicas$rep
    path=(); [[ $order == relu-pool ]] && path=(env PYTHONPATH="$WT/src")
    rm -rf "$R/$name"
    /usr/bin/time -f "%e s wall, %U s user, %S s sys" -o "$R/$name.time" \
      "${path[@]}" .venv/bin/mnistlab train --config mnist-8k --set replicas=$rep --out "$R/$name" --quiet --no-report
    rm -f "$R/$name/checkpoint.safetensors"
    echo "$name: $(cat "$R/$name.time"); final $(tail -1 "$R/$name/metrics.csv")"
  done
  cmp <(cut -d, -f1-6 "$R/mnist-8k-relu-pool-replicas$rep/metrics.csv") \
      <(cut -d, -f1-6 "$R/mnist-8k-pool-relu-replicas$rep/metrics.csv") && echo "replicas $rep: metrics identical"
  cmp "$R/mnist-8k-relu-pool-replicas$rep/model.safetensors" "$R/mnist-8k-pool-relu-replicas$rep/model.safetensors" \
    && echo "replicas $rep: weights identical"
done
