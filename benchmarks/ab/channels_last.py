import sys
import time

import torch
import torch.nn.functional as F

from mnistlab import create_model

torch.set_num_threads(1)
name = sys.argv[1]
B = int(sys.argv[2])
x = torch.randn(B, 1, 28, 28)
y = torch.randint(0, 10, (B,))


def mk(cl):
    torch.manual_seed(0)
    m = create_model(name)
    if cl:
        m = m.to(memory_format=torch.channels_last)
    return m, torch.optim.SGD(m.parameters(), lr=0.01, momentum=0.9)


V = {"eager": mk(False), "chlast": mk(True)}
T = {k: 0.0 for k in V}
for r in range(6):
    for k, (m, o) in V.items():
        xx = x.contiguous(memory_format=torch.channels_last) if k == "chlast" else x
        t = time.perf_counter()
        for _ in range(10):
            out = m(xx)
            loss = F.cross_entropy(out, y)
            o.zero_grad()
            loss.backward()
            o.step()
        if r:
            T[k] += time.perf_counter() - t
for k in T:
    print(name, B, k, f"{T[k] / 50 * 1000:.1f} ms/step  {T[k] / 50 / B * 60000:.1f} s/epoch-equiv")
