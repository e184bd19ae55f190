"""A/B: mnist-8k's separable body vs the dense 16-16-16 body it replaced, train step, fp32 and bf16.

python benchmarks/ab/body.py THREADS  — interleaved rounds in one process, batch 128, channels_last."""

import sys
import time

import torch
import torch.nn.functional as F

from mnistlab.models import create_model

torch.set_num_threads(int(sys.argv[1]) if len(sys.argv) > 1 else 1)
x = torch.randn(128, 1, 28, 28).contiguous(memory_format=torch.channels_last)  # (B, 1, 28, 28)
y = torch.randint(0, 10, (128,))
BODIES = {"dense 8 | 16-16-16": {"trans": 8, "body": [16, 16, 16], "sep": False}, "separable 16 | 24-32-40-48": {}}


def stepper(kwargs, bf16):
    m = create_model("mnist-8k", **kwargs).to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(m.parameters(), lr=0.01, momentum=0.9, nesterov=True)

    def step():
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = F.cross_entropy(m(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()

    return step


steps = {(b, p): stepper(kw, p == "bf16") for b, kw in BODIES.items() for p in ("fp32", "bf16")}
best = dict.fromkeys(steps, float("inf"))
for s in steps.values():
    for _ in range(5):
        s()
for _ in range(3):  # interleaved, so load on the shared machine hits every variant alike
    for k, s in steps.items():
        t = time.perf_counter()
        for _ in range(20):
            s()
        best[k] = min(best[k], (time.perf_counter() - t) / 20)
for (b, p), t in best.items():
    print(f"{b:28s} {p}  {1000 * t:6.1f} ms/step")
