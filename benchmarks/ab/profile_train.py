"""Where a real training run's time goes: python benchmarks/ab/profile_train.py STEPS THREADS [KEY=VALUE ...]

Runs `mnistlab.train` on the mnist-8k preset capped at STEPS optimizer steps (reading the data, the steps,
one test evaluation, the run folder) under torch.profiler and prints the ops by self CPU time. KEY=VALUE
overrides the config (a Python literal: amp=True). With device="cuda" it also prints the ops by GPU time and
the sum of GPU kernel time against the wall time: far below it means the GPU waits on the host (launch-bound).
profile_step.py times a bare step on random input; this one includes augmentation, batch slicing and
evaluation. The profiler's own overhead inflates the total.
"""

import ast
import sys
import tempfile
import time

import torch
from torch.profiler import profile

from mnistlab import load_config
from mnistlab.training.train import train

overrides = {"max_steps": int(sys.argv[1]), "threads": int(sys.argv[2])}
for kv in sys.argv[3:]:
    key, value = kv.split("=", 1)
    overrides[key] = ast.literal_eval(value)
cfg = load_config("mnist-8k", overrides)
with tempfile.TemporaryDirectory() as out, profile() as prof:
    t0 = time.perf_counter()
    train(cfg, out=out, overwrite=True, quiet=True)
    wall = time.perf_counter() - t0
print(f"mnist-8k, {overrides}, torch {torch.__version__}, wall {wall:.2f} s under the profiler")
events = prof.key_averages()
print(events.table(sort_by="self_cpu_time_total", row_limit=20))
if cfg.device == "cuda":
    # self_device_time_total: torch >= 2.4's name for the kernels' own time (self_cuda_time_total before).
    print(events.table(sort_by="self_device_time_total", row_limit=20))
    # Only the device's own events (kernels, copies, memsets): an aten op's self device time repeats its
    # kernels', and the optimizer's device-side annotation spans them; this is the table's "Self CUDA time total".
    cpu = torch.autograd.DeviceType.CPU
    device = [e for e in events if e.device_type != cpu and not e.is_user_annotation]
    kernels = sum(e.self_device_time_total for e in device) / 1e6
    print(f"GPU kernel time {kernels:.2f} s of {wall:.2f} s wall ({100 * kernels / wall:.1f}%), {cfg.max_steps} steps")
