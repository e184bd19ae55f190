"""sweepnet: one parameterised family for architecture search (`mnistlab sweep` samples its kwargs).

Stages of 3x3 conv blocks (conv -> BN -> ReLU -> Dropout, the ref3 order), a 2x2 max pool between
stages, so `depths[0]` says where the first pool sits; an optional 1x1 squeeze before each pool (ref3's
transition); a GAP + 1x1 head or a flatten + Linear head. Every shape is checked at construction, so an
infeasible sample fails in microseconds with one sentence instead of deep inside a training run.
"""

from collections.abc import Sequence

import torch.nn.functional as F
from torch import nn

from ..errors import MnistlabError
from .registry import register


def _block(cin: int, cout: int, padding: int, bn: bool, dropout: float) -> nn.Sequential:
    # BN absorbs a bias, so a conv feeding BN has none; without BN the conv needs its own.
    layers = [nn.Conv2d(cin, cout, 3, padding=padding, bias=not bn)]
    layers += [nn.BatchNorm2d(cout)] if bn else []
    layers.append(nn.ReLU())
    layers += [nn.Dropout(dropout)] if dropout else []
    return nn.Sequential(*layers)


@register(
    "sweepnet",
    "parameterised family for sweeps: stages of 3x3 convs split by max pools, optional 1x1 squeeze, "
    "GAP or Linear head; default 8x2 | pool | 16x3 + GAP",
)
class SweepNet(nn.Module):
    """widths[i] channels in stage i, depths[i] 3x3 convs in it; a max pool between consecutive stages."""

    def __init__(
        self,
        widths: Sequence[int] = (8, 16),
        depths: Sequence[int] = (2, 3),
        squeeze: int = 0,  # channels of a 1x1 conv before each pool (ref3's 12 -> 10); 0 = none
        dropout: float = 0.05,  # after every 3x3 block
        bn: bool = True,
        gap: bool = True,  # GAP then 1x1 conv to 10 classes; False: flatten + Linear (many more params)
        padding: int = 0,  # 0 shrinks the map by 2 per conv (cheap); 1 keeps it (4-9x the compute)
    ):
        super().__init__()
        widths, depths = [int(w) for w in widths], [int(d) for d in depths]
        if not widths or len(widths) != len(depths):
            raise MnistlabError(f"sweepnet: widths {widths} and depths {depths} need one entry per stage")
        if min(widths) < 1 or min(depths) < 1 or squeeze < 0:
            raise MnistlabError(f"sweepnet: widths {widths}, depths {depths} must be >= 1 and squeeze >= 0")
        if padding not in (0, 1) or not 0 <= dropout < 1:
            raise MnistlabError(f"sweepnet: padding must be 0 or 1 (got {padding}), dropout in [0, 1)")
        # Every constructor argument, resolved, for model.json (registry.resolved_kwargs): a run folder still
        # rebuilds the same network if a builder's or this class's defaults change later.
        self.init_kwargs = {"widths": widths, "depths": depths, "squeeze": squeeze, "dropout": dropout, "bn": bn,
                            "gap": gap, "padding": padding}  # fmt: skip
        layers, cin, size = [], 1, 28
        for stage, (width, depth) in enumerate(zip(widths, depths, strict=True)):
            for _ in range(depth):
                layers.append(_block(cin, width, padding, bn, dropout))
                cin, size = width, size + 2 * padding - 2
                if size < 1:
                    raise MnistlabError(f"sweepnet: the feature map vanishes in stage {stage + 1} ({widths}, {depths})")
            if stage < len(widths) - 1:
                if squeeze:
                    layers.append(nn.Conv2d(cin, squeeze, 1, bias=False))
                    cin = squeeze
                if size < 2:
                    raise MnistlabError(f"sweepnet: no room to pool after stage {stage + 1} ({widths}, {depths})")
                layers.append(nn.MaxPool2d(2))
                size //= 2
        self.features = nn.Sequential(*layers)  # (B, widths[-1], size, size)
        if gap:
            self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(cin, 10, 1, bias=False), nn.Flatten())
        else:
            self.head = nn.Sequential(nn.Flatten(), nn.Linear(cin * size * size, 10))

    def forward(self, x):
        return F.log_softmax(self.head(self.features(x)), dim=1)  # (B, 10) log-probabilities, like refs
