"""A/B: training cost per image at batch 128, 256 and 512, interleaved, fp32, channels_last, SGD.

python benchmarks/ab/batch.py THREADS [MODEL]   (microseconds per image at each batch size)
Each round trains 1,280 images at every batch size, so the sizes see the same machine noise.
"""

import sys
import time

import torch
import torch.nn.functional as F

from mnistlab import create_model

torch.set_num_threads(int(sys.argv[1]))
name = sys.argv[2] if len(sys.argv) > 2 else "mnist-8k"
IMAGES = 1280
nets = {}
for b in (128, 256, 512):
    torch.manual_seed(0)
    m = create_model(name).to(memory_format=torch.channels_last)
    x = torch.randn(b, 1, 28, 28).contiguous(memory_format=torch.channels_last)  # (B, 1, 28, 28)
    nets[b] = (m, torch.optim.SGD(m.parameters(), lr=0.01, momentum=0.9), x, torch.randint(0, 10, (b,)))
total = dict.fromkeys(nets, 0.0)
for rep in range(6):  # rep 0 warms up and is not counted
    for b, (m, opt, x, y) in nets.items():
        t = time.perf_counter()
        for _ in range(IMAGES // b):
            loss = F.cross_entropy(m(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        total[b] += (time.perf_counter() - t) * (rep > 0)
for b in nets:
    print(f"{name} batch {b}: {1e6 * total[b] / (5 * IMAGES):6.1f} us/image", flush=True)
