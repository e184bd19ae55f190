"""Two replicas of ref3 (half batches of 64, bf16 where native, fast dropout masks) as threads or processes:
python benchmarks/ab/replica_wait.py [--steps 100] [--rounds 3]

Prints ms per step, interleaved rounds, for: one half alone on one thread (the floor), the thread pair
(parallel.ReplicaPair), the process pair whose sides sleep at each step's rendezvous (SPIN_S = 0) and the
process pair as the trainer runs it (replica_process.ReplicaProcess, spinning through the short wait).
"""

import argparse
import time

import torch

from mnistlab.models.registry import create_model
from mnistlab.system import native_bf16
from mnistlab.training import replica_process
from mnistlab.training.dropout import use_fast_dropout
from mnistlab.training.parallel import ReplicaPair
from mnistlab.training.steps import CrossEntropy, inputs

p = argparse.ArgumentParser()
p.add_argument("--steps", type=int, default=100)
p.add_argument("--rounds", type=int, default=3)
args = p.parse_args()
torch.set_num_threads(1)
torch.manual_seed(0)
model = create_model("ref3")
use_fast_dropout(model)
model = model.to(memory_format=torch.channels_last)
images, labels = (torch.rand(128, 28, 28) * 255).to(torch.uint8), torch.randint(0, 10, (128,))
loss_of, prepare = CrossEntropy().bind(inputs(images, None, 0.1307, 0.3081, True), labels)
bf16 = native_bf16(torch.device("cpu"))


def amp():
    return torch.autocast("cpu", torch.bfloat16, enabled=bf16)


def timed(stepper) -> float:
    for s in range(5):
        stepper(s)
    t = time.perf_counter()
    for s in range(args.steps):
        stepper(s)
    return (time.perf_counter() - t) / args.steps * 1e3


def alone(s):
    for q in model.parameters():
        q.grad = None
    with amp():
        out = model(prepare(slice(0, 64)))
    (loss_of(out.float(), slice(0, 64)) * 0.5).backward()


def pair_of(make, spin=None):
    def run():
        if spin is not None:
            replica_process.SPIN_S = spin
        pair = make()
        ms = timed(lambda s: (pair.forward_backward(prepare, 128, loss_of, s, amp), pair.sync()))
        pair.close()
        replica_process.SPIN_S = 0.05
        return ms

    return run


def process_pair():
    return replica_process.ReplicaProcess(model, 0, 128, 0.0)


cases = {
    "one half alone, one thread": lambda: timed(alone),
    "thread pair (parallel.ReplicaPair)": pair_of(lambda: ReplicaPair(model, 0)),
    "process pair, sleeping at the rendezvous": pair_of(process_pair, 0.0),
    "process pair, spinning (the trainer's)": pair_of(process_pair),
}
print(f"ref3, batch 128 as two halves of 64, bf16 autocast {bf16}, {args.steps} steps, ms per step")
results = {k: [] for k in cases}
for _ in range(args.rounds):
    for name, run in cases.items():
        results[name].append(run())
floor = sorted(results["one half alone, one thread"])[args.rounds // 2]
for name, ms in results.items():
    med = sorted(ms)[args.rounds // 2]
    print(f"{name:42s} {' '.join(f'{m:6.2f}' for m in ms)}  median {med:6.2f}  ({med / floor:.2f}x the floor)")
