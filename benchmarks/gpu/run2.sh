#!/usr/bin/env bash
# The second lease of session 10 (run.sh ran out of its budget before these): the bench over 1,000 steps,
# where start-up no longer dominates (200 steps of mnistlab's side are ~6 s, of which ~4 s are fixed costs),
# the 8-epoch schedule's seeds 1-2, and torch.compile.   OUT=DIR bash benchmarks/gpu/run2.sh
set -u
OUT=${OUT:?set OUT to an empty folder}
ML=${ML:-python3 -m mnistlab}
export PYTHONUNBUFFERED=1
mkdir -p "$OUT/runs"
for m in mnist-8k ref1; do
  echo "== $(date +%T) bench $m 1000 steps"
  timeout 100 $ML bench --device cuda --model "$m" --steps 1000 --json > "$OUT/bench1000-$m.json"
done
run() { local name=$1 limit=$2; shift 2; echo "== $(date +%T) $name"; local t=$(date +%s.%N)
  timeout "$limit" $ML train --device cuda --no-report --quiet --out "$OUT/runs/$name" "$@"
  echo "$name rc=$? wall_s=$(python3 -c "print(round($(date +%s.%N) - $t, 2))")" | tee -a "$OUT/walls.txt"; }
run m8-e8-fp32-s1 40 --config mnist-8k --seed 1 --epochs 8
run m8-e8-fp32-s2 40 --config mnist-8k --seed 2 --epochs 8
run m8-fp32-compile-s0 120 --config mnist-8k --seed 0 --set compile=true
find "$OUT/runs" -name checkpoint.safetensors -delete
tar czf "$OUT/runs.tgz" -C "$OUT" runs && rm -r "$OUT/runs"
cp /dev/null "$OUT/machine.txt"; echo "== $(date +%T) done"
