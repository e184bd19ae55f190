"""One-thread training step (batch 128, channels_last, SGD) and a 2,000-image evaluation of every candidate in
arch.py, from the repository root:

    python research/mnist-8k/early-downsampling/scripts/speed.py [THREADS]

The figures of 2026-11-22 (research/mnist-8k/early-downsampling/README.md) were read off this script's
output on a busy machine and not saved: compare ratios within one run only.
"""

import sys
import time

import torch
import torch.nn.functional as F
from arch import cands

torch.set_num_threads(int(sys.argv[1]) if len(sys.argv) > 1 else 1)
x = torch.randn(128, 1, 28, 28).contiguous(memory_format=torch.channels_last)
y = torch.randint(0, 10, (128,))


def step(m, opt):
    loss = F.cross_entropy(m(x), y)
    opt.zero_grad()
    loss.backward()
    opt.step()


for name, mk in cands().items():
    m = mk().to(memory_format=torch.channels_last)
    n = sum(p.numel() for p in m.parameters())
    opt = torch.optim.SGD(m.parameters(), lr=0.01, momentum=0.9, nesterov=True)
    for _ in range(10):
        step(m, opt)
    ts = []
    for _ in range(3):
        t = time.perf_counter()
        for _ in range(30):
            step(m, opt)
        ts.append((time.perf_counter() - t) / 30)
    m.eval()
    with torch.inference_mode():
        xe = torch.randn(2000, 1, 28, 28).contiguous(memory_format=torch.channels_last)
        m(xe)
        t = time.perf_counter()
        m(xe)
        te = time.perf_counter() - t
    print(f"{name:28s} params {n:5d}  step {1000 * min(ts):6.2f} ms  eval/2000 {1000 * te:6.1f} ms", flush=True)
