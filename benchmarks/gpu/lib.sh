# Sourced by run.sh and run2.sh: OUT, DEVICE, ML, EXTRA and BUDGET (seconds from T0) are theirs.
T0=$(date +%s)
left() { echo $((BUDGET - ($(date +%s) - T0))); }
timed() { # NAME LIMIT ARGS...: one training process, timed whole; its wall time goes to walls.txt
  local name=$1 limit=$2; shift 2
  if [ "$(left)" -lt 20 ]; then echo "$name skipped: budget spent" | tee -a "$OUT/walls.txt"; return; fi
  [ "$limit" -gt "$(left)" ] && limit=$(left)
  echo "== $(date +%T) $name: train $* $EXTRA"
  local t=$(date +%s.%N)
  timeout "$limit" $ML train --device "$DEVICE" --no-report --quiet --out "$OUT/runs/$name" "$@" $EXTRA
  local rc=$?
  echo "$name rc=$rc wall_s=$(python3 -c "print(round($(date +%s.%N) - $t, 2))")" | tee -a "$OUT/walls.txt"
}
pack_runs() { # the device tool brings back at most 8 files, 2 folders down: the run folders travel as one archive
  find "$OUT/runs" -name checkpoint.safetensors -delete
  tar czf "$OUT/runs.tgz" -C "$OUT" runs && rm -r "$OUT/runs"
}
