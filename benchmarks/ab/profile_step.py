import sys

import torch
import torch.nn.functional as F
from torch.profiler import profile

from mnistlab import create_model

torch.set_num_threads(1)
m = create_model(sys.argv[1]).to(memory_format=torch.channels_last)
o = torch.optim.SGD(m.parameters(), lr=0.01, momentum=0.9)
x = torch.randn(128, 1, 28, 28).contiguous(memory_format=torch.channels_last)
y = torch.randint(0, 10, (128,))


def step():
    out = m(x)
    loss = F.cross_entropy(out, y)
    o.zero_grad()
    loss.backward()
    o.step()


for _ in range(3):
    step()

with profile() as p:
    for _ in range(10):
        step()
print(p.key_averages().table(sort_by="self_cpu_time_total", row_limit=14))
