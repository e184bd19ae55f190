"""A/B: CompactNet's stem as shipped until 2026-12-05 (BN -> ReLU -> max-pool) against now (BN -> max-pool ->
ReLU, the ReLU on a quarter of the map), interleaved, fp32, batch 128, channels_last, SGD. The two orders
compute the same numbers (tests/test_models.py checks twenty steps bit for bit); only the time differs.

python benchmarks/ab/pool_relu.py THREADS [MODEL ...]   (default mnist-8k; ms/step each and the ratio)
"""

import copy
import sys

import torch
from specs import batch, interleaved_ms, make

torch.set_num_threads(int(sys.argv[1]))
x, y = batch(128)  # x (B, 1, 28, 28)


def relu_then_pool(model):
    """The same modules with the stem's max-pool moved back after its ReLU (state_dict keys unchanged)."""
    model = copy.deepcopy(model)
    mods = list(model.features)
    i = next(k for k, m in enumerate(mods) if isinstance(m, torch.nn.MaxPool2d))
    mods[i], mods[i + 1] = mods[i + 1], mods[i]
    model.features = torch.nn.Sequential(*mods)
    return model


for name in sys.argv[2:] or ["mnist-8k"]:
    now, _ = make(name + ':{"dropout": 0}')
    before = relu_then_pool(now)
    opt = lambda m: torch.optim.SGD(m.parameters(), lr=0.01, momentum=0.9)  # noqa: E731
    ms = interleaved_ms({"before": (before, opt(before)), "now": (now, opt(now))}, x, y)
    a, b = ms["before"], ms["now"]
    print(f"{name:9s} relu->pool {a:6.2f} ms/step  pool->relu {b:6.2f} ms/step  {a / b:.3f}x", flush=True)
