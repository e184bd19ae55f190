"""What the A/B scripts here share: a model named by a spec, with its SGD optimizer, and a random batch.

A spec is a registered name, optionally with constructor kwargs as JSON after a colon:
    mnist-8k   'mnist-8k:{"trans": 8, "body": [16, 16, 16], "sep": false}'
(The scripts run as `python benchmarks/ab/NAME.py`, so this folder is on sys.path.)
"""

import json
import time

import torch
import torch.nn.functional as F

from mnistlab import create_model


def make(spec: str):
    """(model in channels_last, SGD optimizer), seeded so every script starts from the same weights."""
    name, _, kwargs = spec.partition(":")
    torch.manual_seed(0)
    m = create_model(name, **json.loads(kwargs or "{}")).to(memory_format=torch.channels_last)
    return m, torch.optim.SGD(m.parameters(), lr=0.01, momentum=0.9)


def batch(b: int = 128):
    """x (B, 1, 28, 28) channels_last, y (B,)."""
    return torch.randn(b, 1, 28, 28).contiguous(memory_format=torch.channels_last), torch.randint(0, 10, (b,))


def interleaved_ms(nets: dict, x, y, rounds: int = 10, steps: int = 10, bf16=()) -> dict:
    """ms per training step of each {key: (model, optimizer)} on batch (x, y): `rounds` rounds of `steps`
    steps, the nets taking turns within a round so the machine's noise falls on all alike; one warm-up round
    is not counted. Keys in `bf16` run their forward under CPU bf16 autocast."""
    total = dict.fromkeys(nets, 0.0)
    for rnd in range(rounds + 1):
        for k, (m, opt) in nets.items():
            t = time.perf_counter()
            for _ in range(steps):
                with torch.autocast("cpu", torch.bfloat16, enabled=k in bf16):
                    out = m(x)
                loss = F.cross_entropy(out.float(), y)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
            total[k] += (time.perf_counter() - t) * (rnd > 0)
    return {k: 1000 * v / (rounds * steps) for k, v in total.items()}


def train_steps(model, opt, batches, amp: bool) -> float:
    """One SGD step per (x, y) in `batches`, forward under CPU bf16 autocast if `amp`; ms per step."""
    t = time.perf_counter()
    for x, y in batches:
        opt.zero_grad(set_to_none=True)
        with torch.autocast("cpu", torch.bfloat16, enabled=amp):
            loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
    return (time.perf_counter() - t) / len(batches) * 1e3
