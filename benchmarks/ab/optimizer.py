"""A/B: the optimizer step alone and a whole training step, SGD-Nesterov as the presets use it, with
PyTorch's per-parameter loop (foreach=False), foreach=True and fused=True, interleaved in one process.
All three give bit-identical weights on CPU (checked below), so the choice is speed only.

python benchmarks/ab/optimizer.py THREADS MODEL [MODEL ...]
"""

import sys
import time

import torch
import torch.nn.functional as F

from mnistlab import create_model

torch.set_num_threads(int(sys.argv[1]))
x = torch.randn(128, 1, 28, 28).contiguous(memory_format=torch.channels_last)  # (B, 1, 28, 28)
y = torch.randint(0, 10, (128,))
KINDS = {"loop": {"foreach": False}, "foreach": {"foreach": True}, "fused": {"fused": True}}


def make(name, kw):
    torch.manual_seed(0)
    m = create_model(name).to(memory_format=torch.channels_last)
    return m, torch.optim.SGD(m.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4, **kw)


def step(m, opt):
    loss = F.cross_entropy(m(x), y)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()


for name in sys.argv[2:]:
    runs = {k: make(name, kw) for k, kw in KINDS.items()}
    whole, opt_only = dict.fromkeys(KINDS, 0.0), dict.fromkeys(KINDS, 0.0)
    for rep in range(7):  # rep 0 warms up and is not counted
        for k, (m, opt) in runs.items():
            t = time.perf_counter()
            for _ in range(10):
                step(m, opt)
            whole[k] += (time.perf_counter() - t) * (rep > 0)
            t = time.perf_counter()
            for _ in range(50):
                opt.step()  # the gradients of the last step, again: the optimizer's own cost
            opt_only[k] += (time.perf_counter() - t) * (rep > 0)
    same = all(
        torch.equal(a, b)
        for k in ("foreach", "fused")
        for a, b in zip(runs["loop"][0].parameters(), runs[k][0].parameters(), strict=True)
    )
    cells = "  ".join(f"{k} {1000 * whole[k] / 60:6.2f} ms/step, opt {1000 * opt_only[k] / 300:5.3f} ms" for k in KINDS)
    print(f"{name:10s} {cells}  bit-identical {same}", flush=True)
