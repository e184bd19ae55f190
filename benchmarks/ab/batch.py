"""A/B: training cost per image at batch 128, 256 and 512, interleaved, fp32, channels_last, SGD.

python benchmarks/ab/batch.py THREADS [MODEL]   (microseconds per image at each batch size)
Each round trains 1,280 images at every batch size, so the sizes see the same machine noise.
"""

import sys
import time

import torch
import torch.nn.functional as F
from specs import batch, make

torch.set_num_threads(int(sys.argv[1]))
name = sys.argv[2] if len(sys.argv) > 2 else "mnist-8k"
IMAGES = 1280
nets = {b: (*make(name), *batch(b)) for b in (128, 256, 512)}  # each: model, optimizer, x (B, 1, 28, 28), y
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
