"""Applying fast_dropout's mask in one pass against two, on a replica's training step:
python benchmarks/ab/dropout_apply.py [MODEL ...] > benchmarks/results/<YYYY-MM-DD>-<machine>/dropout-apply.txt
(default models: ref1 ref3 examples/my_net.py:Net)

The two forms give the same bits (tests/test_dropout.py): torch.where(keep, x, 0).mul_(1 / (1 - p)), the form
before 2026-12-06, and dropout._KeepScale, one addcmul each way with the mask in x's dtype. Both sides train
the same network from the same weights on the same batches, as one replica of `replicas = 2` does: batch 64,
one thread, bf16 autocast where native, channels_last, fast dropout masks. Interleaved rounds of 40 steps,
ms per step as the median of 5 rounds; the weights after all rounds are compared bit for bit.
"""

import copy
import statistics
import sys

import torch
from specs import train_steps  # this folder (scripts run from it)

from mnistlab.models import create_model
from mnistlab.system import cpu_name, keep_freed_memory, native_bf16
from mnistlab.training import dropout
from mnistlab.training.dropout import keep_mask, use_fast_dropout

torch.set_num_threads(1)
keep_freed_memory()
ONE_PASS = dropout.fast_dropout


def two_passes(x, p, generator=None):  # dropout.fast_dropout before 2026-12-06
    if p >= 1:
        return x * 0
    return torch.where(keep_mask(x, p, generator), x, 0.0).mul_(1 / (1 - p))


def rounds(name: str, n_rounds: int = 5, steps: int = 40) -> None:
    torch.manual_seed(0)
    base = create_model(name).to(memory_format=torch.channels_last)
    use_fast_dropout(base)
    sides = {}
    for label, apply in (("two passes (where, mul_)", two_passes), ("one pass (addcmul)", ONE_PASS)):
        model = copy.deepcopy(base)
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        sides[label] = (model, opt, apply, torch.Generator().manual_seed(1), [])
    data = torch.Generator().manual_seed(2)
    batches = [(torch.randn(64, 1, 28, 28, generator=data).contiguous(memory_format=torch.channels_last),
                torch.randint(0, 10, (64,), generator=data)) for _ in range(steps)]  # fmt: skip
    amp = native_bf16(torch.device("cpu"))
    for r in range(n_rounds + 1):  # round 0 warms up
        for model, opt, apply, gen, times in sides.values():
            dropout.fast_dropout = lambda x, p, generator=None, apply=apply, gen=gen: apply(x, p, gen)
            ms = train_steps(model, opt, batches, amp)
            if r:
                times.append(ms)
    dropout.fast_dropout = ONE_PASS
    (a, *_, ta), (b, *_, tb) = sides.values()
    same = all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values(), strict=True))
    ma, mb = statistics.median(ta), statistics.median(tb)
    print(f"{name}: two passes {ma:.2f} ms/step, one pass {mb:.2f} ms/step, {ma / mb:.2f}x; "
          f"weights after {(n_rounds + 1) * steps} steps bit-identical: {same}")  # fmt: skip


print(
    f"# {cpu_name()}; torch {torch.__version__}; 1 thread, batch 64, bf16 autocast: {native_bf16(torch.device('cpu'))}"
)
for name in sys.argv[1:] or ["ref1", "ref3", "examples/my_net.py:Net"]:
    rounds(name)
