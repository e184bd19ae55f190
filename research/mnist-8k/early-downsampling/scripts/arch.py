"""The early-downsampling candidates of 2026-11-22 (research/mnist-8k/early-downsampling/README.md).

Imported by speed.py, bf16.py and trial.py in this folder (Python puts a script's folder on sys.path, so run
them from the repository root as `python research/mnist-8k/early-downsampling/scripts/NAME.py ...`).
"""

import torch.nn.functional as F
from torch import nn

from mnistlab import create_model


def blk(ci, co, k=3, p=0, drop=0.0):
    layers = [nn.Conv2d(ci, co, k, padding=p, bias=False), nn.BatchNorm2d(co), nn.ReLU(inplace=True)]
    return layers + ([nn.Dropout(drop)] if drop else [])


class S2D(nn.Module):
    """pixel_unshuffle(2): (B,1,28,28)->(B,4,14,14), then convs at 14x14, pool, convs at 7x7."""

    def __init__(self, a=(16, 16), b=(16, 16), trans=0, pad_b=1, drop=0.05):
        super().__init__()
        layers, c = [], 4
        for w in a:
            layers += blk(c, w, 3, 1)
            c = w
        layers += [nn.MaxPool2d(2)]
        if trans:
            layers += blk(c, trans, 1, 0)
            c = trans
        for i, w in enumerate(b):
            layers += blk(c, w, 3, pad_b, drop if i < len(b) - 1 else 0)
            c = w
        self.f = nn.Sequential(*layers)
        self.head = nn.Conv2d(c, 10, 1, bias=False)

    def forward(self, x):
        x = F.pixel_unshuffle(x, 2)
        return self.head(F.adaptive_avg_pool2d(self.f(x), 1)).flatten(1)


class Pool1(nn.Module):
    """conv 1->c0 at 28 (pad1), pool->14, convs at 14, pool->7, convs at 7."""

    def __init__(self, c0=8, a=(16, 16), b=(16, 16), drop=0.05):
        super().__init__()
        layers = blk(1, c0, 3, 1) + [nn.MaxPool2d(2)]
        c = c0
        for w in a:
            layers += blk(c, w, 3, 1)
            c = w
        layers += [nn.MaxPool2d(2)]
        for i, w in enumerate(b):
            layers += blk(c, w, 3, 1, drop if i < len(b) - 1 else 0)
            c = w
        self.f = nn.Sequential(*layers)
        self.head = nn.Conv2d(c, 10, 1, bias=False)

    def forward(self, x):
        return self.head(F.adaptive_avg_pool2d(self.f(x), 1)).flatten(1)


def cands():
    """'NAME:description' -> a function building the candidate. A was the registered mnist-8k of 2026-11-22
    (dense 8-16 | 8 | 16-16-16); today's registered mnist-8k is another network."""
    return {
        "A:mnist-8k": lambda: create_model("mnist-8k"),
        "B:s2d16-16|16-16": lambda: S2D((16, 16), (16, 16)),
        "C:s2d12-20|20-16": lambda: S2D((12, 20), (20, 16)),
        "D:s2d16-24|1x1 12|20-16": lambda: S2D((16, 24), (20, 16), trans=12),
        "E:pool1 8|16-16|16-16": lambda: Pool1(8, (16, 16), (16, 16)),
        "F:s2d 12-16|16-16-16": lambda: S2D((12, 16), (16, 16, 16)),
        "E2:pool1 8|12-16|16-16": lambda: Pool1(8, (12, 16), (16, 16)),
        "E5:pool1 6|10-12|12-12": lambda: Pool1(6, (10, 12), (12, 12)),
        "E20:pool1 12|20-24|24-24": lambda: Pool1(12, (20, 24), (24, 24)),
    }
