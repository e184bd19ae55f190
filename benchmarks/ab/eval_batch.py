"""A/B: evaluating 10,000 images under inference_mode at several batch sizes, fp32 and bf16, interleaved.

python benchmarks/ab/eval_batch.py THREADS MODEL
"""

import sys
import time

import torch

from mnistlab import create_model

torch.set_num_threads(int(sys.argv[1]))
m = create_model(sys.argv[2]).eval().to(memory_format=torch.channels_last)
x = torch.randn(10000, 1, 28, 28)  # (N, 1, 28, 28)
sizes, total = (2000, 1000, 500, 256, 128), {}
for rep in range(4):  # rep 0 warms up and is not counted
    for amp in (False, True):
        for bs in sizes:
            with torch.inference_mode(), torch.autocast("cpu", torch.bfloat16, enabled=amp):
                t = time.perf_counter()
                for i in range(0, len(x), bs):
                    m(x[i : i + bs].contiguous(memory_format=torch.channels_last)).float()
                total[amp, bs] = total.get((amp, bs), 0.0) + (time.perf_counter() - t) * (rep > 0)
for amp in (False, True):
    row = "  ".join(f"batch {bs}: {1000 * total[amp, bs] / 3:6.0f} ms" for bs in sizes)
    print(f"{sys.argv[2]} {'bf16' if amp else 'fp32'} 10k images  {row}")
