"""nn.Dropout's masks drawn by bernoulli_ against the same masks from random_() (dropout.bernoulli_noise), on
a one-model training step: python benchmarks/ab/bernoulli_draw.py [MODEL:BATCH ...]
    > benchmarks/results/<YYYY-MM-DD>-<machine>/bernoulli-draw.txt      (default: ref2:128 ref4:256)

Both sides train the same network from the same weights on the same batches, with nn.Dropout and the
global generator seeded alike, as `mnistlab train --config ref2` (or ref4) does: two intra-op threads,
bf16 autocast where native, channels_last; one side inside dropout.cheaper_bernoulli. Interleaved rounds of
30 steps, ms per step as the median of 5 rounds; the weights after all rounds are compared bit for bit.
"""

import copy
import statistics
import sys

import torch
from specs import train_steps  # this folder (scripts run from it)

from mnistlab.models import create_model
from mnistlab.system import cpu_name, keep_freed_memory, native_bf16
from mnistlab.training.dropout import bernoulli_is_reproduced, cheaper_bernoulli

torch.set_num_threads(2)
keep_freed_memory()


def rounds(name: str, batch: int, n_rounds: int = 5, steps: int = 30) -> None:
    torch.manual_seed(0)
    base = create_model(name).to(memory_format=torch.channels_last)
    sides = {}
    for label, cheaper in (("bernoulli_", False), ("random_ (bernoulli_noise)", True)):
        model = copy.deepcopy(base)
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        sides[label] = (model, opt, cheaper, torch.Generator().manual_seed(1).get_state(), [])
    data = torch.Generator().manual_seed(2)
    batches = [(torch.randn(batch, 1, 28, 28, generator=data).contiguous(memory_format=torch.channels_last),
                torch.randint(0, 10, (batch,), generator=data)) for _ in range(steps)]  # fmt: skip
    amp = native_bf16(torch.device("cpu"))
    for r in range(n_rounds + 1):  # round 0 warms up
        for label, (model, opt, cheaper, state, times) in sides.items():
            torch.set_rng_state(state)  # each side's dropout stream goes on where its last round left it
            with cheaper_bernoulli(model, enabled=cheaper):
                ms = train_steps(model, opt, batches, amp)
            if r:
                times.append(ms)
            sides[label] = (model, opt, cheaper, torch.get_rng_state(), times)
    (a, *_, ta), (b, *_, tb) = sides.values()
    same = all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values(), strict=True))
    ma, mb = statistics.median(ta), statistics.median(tb)
    print(f"{name} batch {batch}: bernoulli_ {ma:.2f} ms/step, random_ {mb:.2f} ms/step, {ma / mb:.2f}x; "
          f"weights after {(n_rounds + 1) * steps} steps bit-identical: {same}")  # fmt: skip


print(f"# {cpu_name()}; torch {torch.__version__}; 2 threads; bf16 autocast: {native_bf16(torch.device('cpu'))}; "
      f"bernoulli_is_reproduced: {bernoulli_is_reproduced()}")  # fmt: skip
for spec in sys.argv[1:] or ["ref2:128", "ref4:256"]:
    name, batch = spec.rsplit(":", 1)
    rounds(name, int(batch))
