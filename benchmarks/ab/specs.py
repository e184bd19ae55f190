"""What the A/B scripts here share: a model named by a spec, with its SGD optimizer, and a random batch.

A spec is a registered name, optionally with constructor kwargs as JSON after a colon:
    mnist-8k   'mnist-8k:{"trans": 8, "body": [16, 16, 16], "sep": false}'
(The scripts run as `python benchmarks/ab/NAME.py`, so this folder is on sys.path.)
"""

import json

import torch

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
