"""One training step in fp32 and under CPU bf16 autocast, alternating, for candidates of arch.py (by their
letter) or registered model names, from the repository root:

    python research/mnist-8k/early-downsampling/scripts/bf16.py THREADS NAME [NAME ...]    (e.g. 1 A E2)

benchmarks/ab/bf16.py is the maintained, interleaved version of this A/B.
"""

import sys
import time

import torch
import torch.nn.functional as F
from arch import cands

from mnistlab import create_model

torch.set_num_threads(int(sys.argv[1]))
x = torch.randn(128, 1, 28, 28).contiguous(memory_format=torch.channels_last)
y = torch.randint(0, 10, (128,))
by_letter = {key.split(":")[0]: mk for key, mk in cands().items()}


def step(m, opt, amp):
    with torch.autocast("cpu", torch.bfloat16, enabled=amp):
        out = m(x)
    loss = F.cross_entropy(out.float(), y)
    opt.zero_grad()
    loss.backward()
    opt.step()


for name in sys.argv[2:]:
    mk = by_letter.get(name) or (lambda name=name: create_model(name))
    for amp in (False, True, False, True):
        torch.manual_seed(0)
        m = mk().to(memory_format=torch.channels_last)
        opt = torch.optim.SGD(m.parameters(), lr=0.01, momentum=0.9)
        for _ in range(5):
            step(m, opt, amp)
        t = time.perf_counter()
        for _ in range(20):
            step(m, opt, amp)
        print(f"{name:28s} amp={amp!s:5} step {1000 * (time.perf_counter() - t) / 20:6.2f} ms", flush=True)
