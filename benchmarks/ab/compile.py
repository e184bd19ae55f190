import sys
import time

import torch
import torch.nn.functional as F

from mnistlab import create_model

torch.set_num_threads(int(sys.argv[2]))
B = 128
name = sys.argv[1]
x = torch.randn(B, 1, 28, 28).contiguous(memory_format=torch.channels_last)
y = torch.randint(0, 10, (B,))


def mk():
    torch.manual_seed(0)
    m = create_model(name).to(memory_format=torch.channels_last)
    return m, torch.optim.SGD(m.parameters(), lr=0.01, momentum=0.9)


def step(mm, o):
    out = mm(x)
    loss = F.cross_entropy(out, y)
    o.zero_grad()
    loss.backward()
    o.step()


m, o = mk()
mc, oc = mk()
cm = torch.compile(mc)
t = time.perf_counter()
step(cm, oc)
step(cm, oc)
print("compile s", round(time.perf_counter() - t, 1), flush=True)
T = {"eager": 0, "compiled": 0}
for r in range(6):
    for k, (mm, oo) in {"eager": (m, o), "compiled": (cm, oc)}.items():
        t = time.perf_counter()
        for _ in range(10):
            step(mm, oo)
        if r:
            T[k] += time.perf_counter() - t
for k in T:
    print(name, k, f"{T[k] / 50 * 1000:.1f} ms/step")
