"""Where a real training run's time goes: python benchmarks/ab/profile_train.py STEPS THREADS [KEY=VALUE ...]

Runs `mnistlab.train` on the mnist-8k preset capped at STEPS optimizer steps (reading the data, the steps,
one test evaluation, the run folder) under torch.profiler and prints the ops by self CPU time. KEY=VALUE
overrides the config (a Python literal: amp=True). profile_step.py times a bare step on random input; this
one includes augmentation, batch slicing and evaluation. The profiler's own overhead inflates the total.
"""

import ast
import sys
import tempfile

import torch
from torch.profiler import profile

from mnistlab.config import load_config
from mnistlab.train import train

overrides = {"max_steps": int(sys.argv[1]), "threads": int(sys.argv[2])}
for kv in sys.argv[3:]:
    key, value = kv.split("=", 1)
    overrides[key] = ast.literal_eval(value)
cfg = load_config("mnist-8k", overrides)
with tempfile.TemporaryDirectory() as out, profile() as prof:
    train(cfg, out=out, overwrite=True, quiet=True)
print(f"mnist-8k, {overrides}, torch {torch.__version__}")
print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=20))
