#!/usr/bin/env bash
# The README's example sweep: two workers on one 2-core machine share a study in a journal file.
# Real MNIST, 100 optimizer steps per trial (a quick look, not a final recipe), 16 trials in all.
set -euo pipefail
cd "$(dirname "$0")"
args=(--study mnist-demo --storage study.journal --trials 16 --max-steps 100 --val-size 5000 --threads 1)
mnistlab sweep "${args[@]}" > worker1.txt 2>&1 &
mnistlab sweep "${args[@]}" > worker2.txt 2>&1 &
wait
mnistlab sweep --study mnist-demo --storage study.journal --show > show.txt
mnistlab sweep --study mnist-demo --storage study.journal --show --json > show.json
mnistlab sweep --study mnist-demo --storage study.journal --export-best best.toml > export.txt
