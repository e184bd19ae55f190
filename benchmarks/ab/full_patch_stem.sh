#!/bin/bash
# Whole runs, side by side: the mnist-8k preset's full 15-epoch run (test evaluation after every epoch)
# beside the same recipe on the rejected patch-stem candidate p16w (research/mnist-8k/stem-downsampling:
# 99.44% mean val vs the preset's 99.548), 2 threads, fp32, 1 and 2 replicas, interleaved, each timed as a
# whole process. From the repository root:
#   OUT=benchmarks/results/<YYYY-MM-DD>-<machine> bash benchmarks/ab/full_patch_stem.sh
# (the measurement of 2026-12-05 is in benchmarks/results/2026-12-05-epyc/runs/).
set -euo pipefail
cd "$(dirname "$0")/../.."
. .venv/bin/activate
R=${OUT:?set OUT to the results folder, e.g. benchmarks/results/$(date +%F)-$(hostname -s)}/runs
mkdir -p "$R"
P16W='model_kwargs={dropout = 0.0, stem = [16], stem_kernel = 4, stem_stride = 2, pool = false, body = [28, 36, 44, 52]}'
for rep in 1 2; do
  for net in preset p16w; do
    name=mnist-8k-$net-replicas$rep
    extra=(); [[ $net == p16w ]] && extra=(--set "$P16W")
    rm -rf "$R/$name"
    /usr/bin/time -f "%e s wall, %U s user, %S s sys" -o "$R/$name.time" \
      mnistlab train --config mnist-8k --set replicas=$rep "${extra[@]}" --out "$R/$name" --quiet --no-report
    rm -f "$R/$name/checkpoint.safetensors"
    echo "$name: $(cat "$R/$name.time"); final $(tail -1 "$R/$name/metrics.csv")"
  done
done
