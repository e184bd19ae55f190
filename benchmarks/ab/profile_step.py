"""Where a bare training step's time goes, op by op: python benchmarks/ab/profile_step.py SPEC [shapes]

SPEC is a model spec as in specs.py (e.g. 'mnist-8k:{"dropout": 0}'); one thread, batch 128, channels_last,
SGD, random input, twenty profiled steps. With `shapes` the ops are also split by input shape, which shows
which layer each convolution or BatchNorm call belongs to. profile_train.py profiles a real training run.
"""

import sys

import torch
import torch.nn.functional as F
from specs import batch, make
from torch.profiler import profile

torch.set_num_threads(1)
m, o = make(sys.argv[1])
x, y = batch(128)  # x (B, 1, 28, 28)
shapes = "shapes" in sys.argv[2:]


def step():
    loss = F.cross_entropy(m(x), y)
    o.zero_grad(set_to_none=True)
    loss.backward()
    o.step()


for _ in range(5):
    step()
with profile(record_shapes=shapes) as p:
    for _ in range(20):
        step()
events = p.key_averages(group_by_input_shape=shapes)
print(events.table(sort_by="self_cpu_time_total", row_limit=25, max_name_column_width=40, max_shapes_column_width=70))
