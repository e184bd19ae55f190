"""A/B: one fp32 training step (batch 128, channels_last, SGD) of several networks, interleaved.

python benchmarks/ab/arch_step.py THREADS MODEL [MODEL ...]   (ms/step per model and the first one's / its)
A MODEL may carry constructor kwargs as JSON after a colon, as in bf16.py, e.g. mnist-8k with a 4x4 stride-2
stem and no full-resolution map:
    python benchmarks/ab/arch_step.py 1 'mnist-8k:{"dropout": 0}' \
      'mnist-8k:{"dropout": 0, "stem": [16], "stem_kernel": 4, "stem_stride": 2, "pool": false}'
"""

import sys

import torch
from specs import batch, interleaved_ms, make

torch.set_num_threads(int(sys.argv[1]))
x, y = batch(128)  # x (B, 1, 28, 28)


nets = {spec: make(spec) for spec in sys.argv[2:]}
ms = interleaved_ms(nets, x, y)  # interleaving spreads the machine's noise evenly
for spec, (m, _) in nets.items():
    params = sum(p.numel() for p in m.parameters())
    print(f"{ms[spec]:6.2f} ms/step  {ms[sys.argv[2]] / ms[spec]:.2f}x  {params:6d} params  {spec}", flush=True)
