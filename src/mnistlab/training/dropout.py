"""A cheaper dropout mask, opt-in (`fast_dropout = true`): the same Bernoulli(1 - p) keep-mask, drawn as
int16 lanes of int64 random bits instead of one float draw per element.

Why: nn.Dropout draws a float per element (`bernoulli_`), which was a third of ref1's CPU step (three
dropouts on 26x26 .. 22x22 maps; benchmarks/README.md). One int64 draw gives four int16 values, each
compared with a threshold: p is quantised to 1/65536. The bits must cover all 64 (random_ over the full
int64 range): random_() alone stops at 2**63 - 1, so the top int16 lane would never be negative and that
quarter of the mask would keep 0.90 instead of 0.95 at p = 0.05 (tests/test_dropout.py).

It changes the random stream, so a run with it is not the bit-for-bit twin of one without: off in every
preset (the shipped runs used nn.Dropout); `mnistlab bench` uses it as one of the trainer's speed levers.
"""

import torch
from torch import nn

_LO, _HI = -(2**63), 2**63 - 1  # random_'s [from, to): every bit pattern but one


def keep_mask(x: torch.Tensor, p: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """(x.shape) bool, True with probability 1 - p (to 1/65536), laid out like x for NCHW and NHWC alike."""
    n = x.numel()
    lanes = torch.empty((n + 3) // 4, dtype=torch.int64, device=x.device)
    lanes = lanes.random_(_LO, _HI, generator=generator).view(torch.int16)[:n]  # (n,) uniform int16
    threshold = round(p * 65536) - 32768  # int16 values >= it are kept: P = 1 - p
    if x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last):
        b, c, h, w = x.shape
        return lanes.view(b, h, w, c).permute(0, 3, 1, 2) >= threshold  # an NHWC mask for an NHWC x
    return lanes.view(x.shape) >= threshold


def fast_dropout(x: torch.Tensor, p: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """F.dropout(x, p, training=True) with keep_mask's mask: kept values scaled by 1 / (1 - p)."""
    if p >= 1:  # as F.dropout: everything dropped (and no 1 / 0)
        return x * 0
    return torch.where(keep_mask(x, p, generator), x, 0.0).mul_(1 / (1 - p))


class FastDropout(nn.Dropout):
    """nn.Dropout (so parallel.ReplicaPair still finds it) whose mask is keep_mask's."""

    def forward(self, x):
        return fast_dropout(x, self.p) if self.training and self.p > 0 else x


def use_fast_dropout(model: nn.Module) -> int:
    """Swap every nn.Dropout in `model` for a FastDropout of the same p, in place; returns how many."""
    swapped = 0
    for parent in model.modules():
        for name, child in parent.named_children():
            if type(child) is nn.Dropout:
                setattr(parent, name, FastDropout(child.p))
                swapped += 1
    return swapped
