"""A/B: one training step (batch 128, channels_last, SGD) in fp32 vs under CPU bf16 autocast, interleaved.

python benchmarks/ab/bf16.py THREADS MODEL [MODEL ...]   (prints ms/step per model and the ratio)
A MODEL may carry constructor kwargs as JSON after a colon, e.g. the dense body mnist-8k had until 2026-12-02:
    python benchmarks/ab/bf16.py 1 mnist-8k 'mnist-8k:{"trans": 8, "body": [16, 16, 16], "sep": false}'
"""

import sys

import torch
from specs import batch, interleaved_ms, make

torch.set_num_threads(int(sys.argv[1]))
x, y = batch(128)  # x (B, 1, 28, 28)


for name in sys.argv[2:]:
    ms = interleaved_ms({"fp32": make(name), "bf16": make(name)}, x, y, rounds=6, bf16=("bf16",))
    fp32, bf16 = ms["fp32"], ms["bf16"]
    print(f"{name:10s} fp32 {fp32:6.2f} ms/step  bf16 {bf16:6.2f} ms/step  fp32/bf16 {fp32 / bf16:.2f}x", flush=True)
