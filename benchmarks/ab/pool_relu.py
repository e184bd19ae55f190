"""A/B: CompactNet's stem as shipped before session 12 (BN -> ReLU -> max-pool) against now (BN -> max-pool ->
ReLU, the ReLU on a quarter of the map), interleaved, fp32, batch 128, channels_last, SGD. The two orders
compute the same numbers (tests/test_models.py checks twenty steps bit for bit); only the time differs.

python benchmarks/ab/pool_relu.py THREADS [MODEL ...]   (default mnist-8k; ms/step each and the ratio)
"""

import copy
import sys
import time

import torch
import torch.nn.functional as F
from specs import batch, make

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
    nets = {
        k: (m, torch.optim.SGD(m.parameters(), lr=0.01, momentum=0.9)) for k, m in [("before", before), ("now", now)]
    }
    total = dict.fromkeys(nets, 0.0)
    for rep in range(11):  # rep 0 warms up and is not counted
        for k, (m, opt) in nets.items():
            t = time.perf_counter()
            for _ in range(10):
                loss = F.cross_entropy(m(x), y)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
            total[k] += (time.perf_counter() - t) * (rep > 0)
    a, b = (1000 * total[k] / 100 for k in ("before", "now"))
    print(f"{name:9s} relu->pool {a:6.2f} ms/step  pool->relu {b:6.2f} ms/step  {a / b:.3f}x", flush=True)
