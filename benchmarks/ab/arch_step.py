"""A/B: one fp32 training step (batch 128, channels_last, SGD) of several networks, interleaved.

python benchmarks/ab/arch_step.py THREADS MODEL [MODEL ...]   (ms/step per model and the first one's / its)
A MODEL may carry constructor kwargs as JSON after a colon, as in bf16.py, e.g. mnist-8k with a 4x4 stride-2
stem and no full-resolution map:
    python benchmarks/ab/arch_step.py 1 'mnist-8k:{"dropout": 0}' \
      'mnist-8k:{"dropout": 0, "stem": [16], "stem_kernel": 4, "stem_stride": 2, "pool": false}'
"""

import sys
import time

import torch
import torch.nn.functional as F
from specs import batch, make

torch.set_num_threads(int(sys.argv[1]))
x, y = batch(128)  # x (B, 1, 28, 28)


nets = {spec: make(spec) for spec in sys.argv[2:]}
total = dict.fromkeys(nets, 0.0)
for rep in range(11):  # rep 0 warms up and is not counted; interleaving spreads the machine's noise evenly
    for spec, (m, opt) in nets.items():
        t = time.perf_counter()
        for _ in range(10):
            loss = F.cross_entropy(m(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        total[spec] += (time.perf_counter() - t) * (rep > 0)
first = total[sys.argv[2]]
for spec, (m, _) in nets.items():
    params = sum(p.numel() for p in m.parameters())
    ms = 1000 * total[spec] / 100
    print(f"{ms:6.2f} ms/step  {first / total[spec]:.2f}x  {params:6d} params  {spec}", flush=True)
