"""A cheaper dropout mask, opt-in (`fast_dropout = true`): the same Bernoulli(1 - p) keep-mask, drawn as
int16 lanes of int64 random bits instead of one float draw per element.

Why: nn.Dropout draws a float per element (`bernoulli_`), which was a third of ref1's CPU step (three
dropouts on 26x26 .. 22x22 maps; benchmarks/README.md). One int64 draw gives four int16 values, each
compared with a threshold: p is quantised to 1/65536. The bits must cover all 64 (random_ over the full
int64 range): random_() alone stops at 2**63 - 1, so the top int16 lane would never be negative and that
quarter of the mask would keep 0.90 instead of 0.95 at p = 0.05 (tests/test_dropout.py).

It changes the random stream, so a run with it is not the bit-for-bit twin of one without: on in the
presets whose seeds were trained with it (ref1, ref3), where a rule fixed before the runs showed their
accuracy kept (research/speed/ref3-levers); `mnistlab bench` uses it as one of the trainer's speed levers.
Applying the mask is one addcmul each way (_KeepScale): torch.where and a scaling pass took about as long as
the draw itself; since 2026-12-06 the same bits come out of one pass (tests/test_dropout.py): ref1's
one-thread bf16 replica step 21.1 -> 15.6 ms (benchmarks/results/2026-12-06-xeon-amx-one-pass/dropout-apply.txt).
"""

import contextlib
import functools
import math

import torch
import torch.nn.functional as F
from torch import nn

_LO, _HI = -(2**63), 2**63 - 1  # random_'s [from, to): every bit pattern but one


def keep_mask(x: torch.Tensor, p: float, generator: torch.Generator | None = None, dtype=torch.bool) -> torch.Tensor:
    """(x.shape) True (or 1 in `dtype`) with probability 1 - p (to 1/65536), laid out like x for NCHW and NHWC
    alike."""
    n = x.numel()
    lanes = torch.empty((n + 3) // 4, dtype=torch.int64, device=x.device)
    lanes = lanes.random_(_LO, _HI, generator=generator).view(torch.int16)[:n]  # (n,) uniform int16
    threshold = round(p * 65536) - 32768  # int16 values >= it are kept: P = 1 - p
    keep = torch.ge(lanes, threshold, out=torch.empty(n, dtype=dtype, device=x.device))  # 0/1 written as dtype
    if x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last):
        b, c, h, w = x.shape
        return keep.view(b, h, w, c).permute(0, 3, 1, 2)  # an NHWC mask for an NHWC x
    return keep.view(x.shape)


class _KeepScale(torch.autograd.Function):
    """x * keep * scale in one pass each way, with keep 0/1 in x's dtype: addcmul(+0, x, keep, value=scale)
    computes +0 + scale * x * keep in float, so a kept value is x * scale rounded once and a dropped one is
    +0, bit for bit what torch.where(keep, x, 0).mul_(scale) gave (two passes; on the CPU torch.where alone
    costs about six multiplies), and the gradient likewise. Only a non-finite x differs: it is dropped as
    nan rather than 0."""

    @staticmethod
    def forward(ctx, x, keep, scale):
        ctx.save_for_backward(keep)
        ctx.scale = scale
        return torch.addcmul(x.new_zeros(()), x, keep, value=scale)

    @staticmethod
    def backward(ctx, grad):
        (keep,) = ctx.saved_tensors
        return torch.addcmul(grad.new_zeros(()), grad, keep, value=ctx.scale), None, None


def fast_dropout(x: torch.Tensor, p: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """F.dropout(x, p, training=True) with keep_mask's mask: kept values scaled by 1 / (1 - p)."""
    if p >= 1:  # as F.dropout: everything dropped (and no 1 / 0)
        return x * 0
    return _KeepScale.apply(x, keep_mask(x, p, generator, x.dtype), 1 / (1 - p))


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


# --- nn.Dropout's own masks, drawn cheaper -------------------------------------------------------------
# On the CPU, nn.Dropout computes x * empty_like(x).bernoulli_(1 - p).div_(1 - p). bernoulli_ draws one
# 64-bit word per element, serially, and keeps it if its low 53 bits, scaled by 2**-53, are below 1 - p
# (ATen's uniform_real_distribution<double> and bernoulli transformation). random_() on int64 draws the same
# words in the same order and keeps their low 63 bits, so its low 53 bits compared with ceil((1 - p) * 2**53)
# give the very same mask, 1.24x cheaper to draw (benchmarks/results/2026-12-06-xeon-amx-one-pass/dropout-ops.txt),
# and the generator ends in the same state.
# Whether this torch draws that way is checked once per process (bernoulli_is_reproduced); if not, or off
# the CPU (CUDA's dropout is another kernel), bernoulli_noise is bernoulli_ itself.
_LOW53 = (1 << 53) - 1


def bernoulli_noise(x: torch.Tensor, keep: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """torch.empty_like(x).bernoulli_(keep, generator=generator), bit for bit: 0/1 in x's dtype and layout.
    bernoulli_ fills memory in order, so the cheaper draw serves a contiguous or an NHWC x on the CPU; any
    other layout (a transposed view, say), another device or a torch that draws otherwise gets bernoulli_."""
    nhwc = x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()
    if x.device.type != "cpu" or not (nhwc or x.is_contiguous()) or not bernoulli_is_reproduced():
        return torch.empty_like(x).bernoulli_(keep, generator=generator)
    return _drawn(x, keep, generator, nhwc)


def _drawn(x: torch.Tensor, keep: float, generator: torch.Generator | None, nhwc: bool) -> torch.Tensor:
    n = x.numel()
    low = torch.empty(n, dtype=torch.int64).random_(generator=generator).bitwise_and_(_LOW53)  # (n,) 53 bits
    noise = torch.lt(low, math.ceil(keep * 2**53), out=torch.empty(n, dtype=x.dtype))  # u < keep, exactly
    if nhwc:
        b, c, h, w = x.shape
        return noise.view(b, h, w, c).permute(0, 3, 1, 2)  # an NHWC x: the draws fill it channel-fastest
    return noise.view(x.shape)


@functools.cache
def bernoulli_is_reproduced() -> bool:
    """Does the cheaper draw give this torch's bernoulli_ (layouts, dtypes, keep-probabilities, generator state)?"""
    cases = [(torch.float32, (3, 5, 7, 2), True, 0.9), (torch.bfloat16, (4, 3, 5, 5), False, 0.7),
             (torch.float32, (37, 11), False, 0.3)]  # (dtype, shape, NHWC, keep)  # fmt: skip
    for dtype, shape, nhwc, keep in cases:
        x = torch.empty(shape, dtype=dtype)
        x = x.contiguous(memory_format=torch.channels_last) if nhwc else x
        a, b = torch.Generator().manual_seed(7), torch.Generator().manual_seed(7)
        want, got = torch.empty_like(x).bernoulli_(keep, generator=a), _drawn(x, keep, b, nhwc)
        if not (torch.equal(want, got) and want.stride() == got.stride() and torch.equal(a.get_state(), b.get_state())):
            return False
    return True


def _same_dropout(module: nn.Dropout):
    def forward(x):  # F.dropout(x, p, training) as ATen computes it on the CPU, with bernoulli_noise's draw
        p = module.p
        if not module.training or not 0 < p < 1 or x.numel() == 0:
            return F.dropout(x, p, module.training, module.inplace)
        return x * bernoulli_noise(x, 1 - p).div_(1 - p)

    return forward


@contextlib.contextmanager
def cheaper_bernoulli(model: nn.Module, enabled: bool = True):
    """While inside, each nn.Dropout of `model` (not in place) draws its mask with bernoulli_noise: the same
    masks from the same generator, so the same run to the bit, cheaper where it can be. Restored on leaving;
    not `enabled`: nothing patched (torch.compile traces nn.Dropout itself)."""
    patched = []
    if enabled:
        for m in model.modules():
            if type(m) is nn.Dropout and not m.inplace and "forward" not in vars(m):
                m.forward = _same_dropout(m)
                patched.append(m)
    try:
        yield len(patched)
    finally:
        for m in patched:
            del m.forward
