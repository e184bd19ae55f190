"""The ops under the two dropout levers of 2026-12-06, one at a time, one thread:
python benchmarks/ab/dropout_ops.py > benchmarks/results/<YYYY-MM-DD>-<machine>/dropout-ops.txt

Applying a mask on ref1's first map (64, 16, 26, 26) bf16 NHWC with the mask in x's dtype: torch.where
with a scaling pass (fast_dropout before 2026-12-06), torch.where alone, one multiply, and the addcmul
that replaced them. Drawing nn.Dropout's mask on ref2's first map (128, 8, 14, 14) bf16 NHWC:
empty_like(x).bernoulli_ against dropout.bernoulli_noise (the same bits). ms per call, median of 5 rounds of 50.
"""

import statistics
import time

import torch

from mnistlab.system import cpu_name
from mnistlab.training.dropout import bernoulli_noise, keep_mask

torch.set_num_threads(1)


def ms(f, rounds: int = 5, calls: int = 50) -> float:
    f()
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        for _ in range(calls):
            f()
        times.append((time.perf_counter() - t) / calls * 1e3)
    return statistics.median(times)


x = torch.randn(64, 16, 26, 26).to(torch.bfloat16).contiguous(memory_format=torch.channels_last)
keep, keep_bf16 = keep_mask(x, 0.1), keep_mask(x, 0.1, dtype=torch.bfloat16)
zero, s = torch.zeros((), dtype=torch.bfloat16), 1 / 0.9
print(f"# {cpu_name()}; torch {torch.__version__}; one thread; ms per call (median of 5 rounds of 50)")
print(f"apply, {tuple(x.shape)} bf16 NHWC:")
rows = {
    "torch.where(keep, x, 0).mul_(1 / (1 - p))": lambda: torch.where(keep, x, 0.0).mul_(s),
    "torch.where(keep, x, 0)": lambda: torch.where(keep, x, 0.0),
    "x.mul(1 / (1 - p))": lambda: x.mul(s),
    "torch.addcmul(+0, x, keep, value=1 / (1 - p))": lambda: torch.addcmul(zero, x, keep_bf16, value=s),
}
for name, f in rows.items():
    print(f"  {name:48s} {ms(f):.3f}")
y = torch.randn(128, 8, 14, 14).to(torch.bfloat16).contiguous(memory_format=torch.channels_last)
g = torch.Generator().manual_seed(0)
a, b = ms(lambda: torch.empty_like(y).bernoulli_(0.9, generator=g)), ms(lambda: bernoulli_noise(y, 0.9, g))
print(f"draw, {tuple(y.shape)} bf16 NHWC:")
print(f"  {'empty_like(x).bernoulli_(0.9)':48s} {a:.3f}")
print(f"  {'bernoulli_noise(x, 0.9) (the same bits)':48s} {b:.3f}   {a / b:.2f}x")
