"""The five reference networks, rebuilt from the seed notebooks (`shared/seeds/00N` -> `refN`).

Each keeps its notebook's layer order (some put ReLU before BatchNorm), padding and bias choices, so the
parameter counts equal the notebooks' torchsummary totals. Each returns log-probabilities, as the
notebooks do (`F.log_softmax` + `nll_loss`); cross-entropy on them equals nll_loss, so the trainer treats
logits and log-probabilities alike.
"""

import torch.nn.functional as F
from torch import nn

from .registry import register


def conv_bn(cin, cout, k=3, pad=0, drop=0.0, bias=False, relu_first=False):
    """conv -> BN -> ReLU (-> Dropout); `relu_first` gives the conv -> ReLU -> BN order of ref1 and ref4."""
    acts = [nn.ReLU(), nn.BatchNorm2d(cout)] if relu_first else [nn.BatchNorm2d(cout), nn.ReLU()]
    layers = [nn.Conv2d(cin, cout, k, padding=pad, bias=bias), *acts]
    if drop:
        layers.append(nn.Dropout(drop))
    return nn.Sequential(*layers)


class Ref0(nn.Module):
    """Four 3x3 conv blocks 16-32-64-128 (valid padding, bias), max pools after the 2nd and 4th."""

    def __init__(self, dropout: float = 0.01):
        super().__init__()
        self.init_kwargs = {"dropout": dropout}  # resolved, for model.json (registry.resolved_kwargs)
        self.block1 = conv_bn(1, 16, drop=dropout, bias=True)  # (B,16,26,26)
        self.block2 = conv_bn(16, 32, drop=dropout, bias=True)  # (B,32,24,24)
        self.pool1 = nn.MaxPool2d(2)  # (B,32,12,12)
        self.block3 = conv_bn(32, 64, drop=dropout, bias=True)  # (B,64,10,10)
        self.block4 = conv_bn(64, 128, drop=dropout, bias=True)  # (B,128,8,8)
        self.pool2 = nn.MaxPool2d(2)  # (B,128,4,4)
        self.conv1x1 = nn.Conv2d(128, 10, 1)  # (B,10,4,4)
        self.gap = nn.AdaptiveAvgPool2d(1)  # (B,10,1,1)

    def forward(self, x):
        x = self.pool1(self.block2(self.block1(x)))
        x = self.pool2(self.block4(self.block3(x)))
        x = self.gap(self.conv1x1(x)).flatten(1)
        return F.log_softmax(x, dim=1)


class Ref1(nn.Module):
    """Notebook 001: conv -> ReLU -> BN -> Dropout blocks, no bias, AvgPool after three 16-ch convs, GAP."""

    def __init__(self, dropout: float = 0.1):
        super().__init__()
        self.init_kwargs = {"dropout": dropout}  # resolved, for model.json (registry.resolved_kwargs)
        self.block0 = conv_bn(1, 16, drop=dropout, relu_first=True)  # (B,16,26,26)
        self.block1 = conv_bn(16, 16, drop=dropout, relu_first=True)  # (B,16,24,24)
        self.block1d = conv_bn(16, 16, drop=dropout, relu_first=True)  # (B,16,22,22)
        self.pool1 = nn.AvgPool2d(2, 2)  # (B,16,11,11)
        self.block2 = conv_bn(16, 32, drop=dropout, relu_first=True)  # (B,32,9,9)
        self.block3 = conv_bn(32, 16, relu_first=True)  # (B,16,7,7)
        self.pool2 = nn.AdaptiveAvgPool2d(1)  # (B,16,1,1)
        self.block4 = nn.Conv2d(16, 10, 1, bias=False)  # (B,10,1,1)

    def forward(self, x):
        x = self.pool1(self.block1d(self.block1(self.block0(x))))
        x = self.block4(self.pool2(self.block3(self.block2(x))))
        return F.log_softmax(x.view(-1, 10), dim=1)


class Ref2(nn.Module):
    """Notebook 002: pairs of 3x3 convs with functional ReLU, MaxPool -> BN -> Dropout, then Linear(128, 10)."""

    def __init__(self, dropout: float = 0.1):
        super().__init__()
        self.init_kwargs = {"dropout": dropout}  # resolved, for model.json (registry.resolved_kwargs)
        self.conv1 = nn.Conv2d(1, 8, 3, padding=1)  # (B,8,28,28)
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1)  # (B,8,28,28)
        self.pool1 = nn.MaxPool2d(2)  # (B,8,14,14)
        self.bn1 = nn.BatchNorm2d(8)
        self.drop1 = nn.Dropout(dropout)
        self.conv3 = nn.Conv2d(8, 16, 3, padding=1)  # (B,16,14,14)
        self.conv4 = nn.Conv2d(16, 16, 3)  # (B,16,12,12)
        self.pool2 = nn.MaxPool2d(2)  # (B,16,6,6)
        self.bn2 = nn.BatchNorm2d(16)
        self.drop2 = nn.Dropout(dropout)
        self.conv5 = nn.Conv2d(16, 32, 3)  # (B,32,4,4)
        self.conv6 = nn.Conv2d(32, 32, 3)  # (B,32,2,2)
        self.fc = nn.Linear(128, 10)

    def forward(self, x):
        x = self.drop1(self.bn1(self.pool1(F.relu(self.conv2(F.relu(self.conv1(x)))))))
        x = self.drop2(self.bn2(self.pool2(F.relu(self.conv4(F.relu(self.conv3(x)))))))
        x = F.relu(self.conv6(F.relu(self.conv5(x))))  # (B,32,2,2)
        return F.log_softmax(self.fc(x.flatten(1)), dim=1)


class Ref3(nn.Module):
    """Notebook 003: 8-12 | 1x1->10, pool | 12-12-16-16, GAP, 1x1->10; BN after every 3x3 conv."""

    def __init__(self, dropout: float = 0.01):
        super().__init__()
        self.init_kwargs = {"dropout": dropout}  # resolved, for model.json (registry.resolved_kwargs)
        self.conv1 = conv_bn(1, 8, drop=dropout)  # (B,8,26,26)  rf 3
        self.conv2 = conv_bn(8, 12, drop=dropout)  # (B,12,24,24) rf 5
        self.trans = nn.Conv2d(12, 10, 1, bias=False)  # (B,10,24,24)
        self.pool = nn.MaxPool2d(2)  # (B,10,12,12) rf 6
        self.conv3 = conv_bn(10, 12, drop=dropout)  # (B,12,10,10) rf 10
        self.conv4 = conv_bn(12, 12, drop=dropout)  # (B,12,8,8)   rf 14
        self.conv5 = conv_bn(12, 16, drop=dropout)  # (B,16,6,6)   rf 18
        self.conv6 = conv_bn(16, 16, drop=dropout)  # (B,16,4,4)   rf 22
        self.gap = nn.AdaptiveAvgPool2d(1)  # (B,16,1,1)
        self.head = nn.Conv2d(16, 10, 1, bias=False)  # (B,10,1,1)

    def forward(self, x):
        x = self.pool(self.trans(self.conv2(self.conv1(x))))
        x = self.conv6(self.conv5(self.conv4(self.conv3(x))))
        return F.log_softmax(self.head(self.gap(x)).flatten(1), dim=1)


class Ref4(nn.Module):
    """Notebook 004: 16-32 at full resolution (padding 1), pool, 1x1 squeezes to 8 with Dropout, 6x6 AvgPool."""

    def __init__(self, dropout: float = 0.3):
        super().__init__()
        self.init_kwargs = {"dropout": dropout}  # resolved, for model.json (registry.resolved_kwargs)
        self.conv1 = conv_bn(1, 16, pad=1, bias=True, relu_first=True)  # (B,16,28,28)
        self.conv2 = conv_bn(16, 32, pad=1, bias=True, relu_first=True)  # (B,32,28,28)
        self.pool = nn.MaxPool2d(2)  # (B,32,14,14)
        self.squeeze1 = nn.Sequential(nn.Conv2d(32, 8, 1), nn.Dropout(dropout))  # (B,8,14,14)
        self.conv3 = conv_bn(8, 16, bias=True, relu_first=True)  # (B,16,12,12)
        self.conv4 = conv_bn(16, 32, bias=True, relu_first=True)  # (B,32,10,10)
        self.squeeze2 = nn.Sequential(nn.Conv2d(32, 8, 1), nn.Dropout(dropout))  # (B,8,10,10)
        self.conv5 = nn.Sequential(nn.Conv2d(8, 16, 3), nn.ReLU())  # (B,16,8,8)
        self.conv6 = nn.Sequential(nn.Conv2d(16, 32, 3), nn.ReLU())  # (B,32,6,6)
        self.head = nn.Conv2d(32, 10, 1)  # (B,10,6,6)
        self.gap = nn.AvgPool2d(6)  # (B,10,1,1)

    def forward(self, x):
        x = self.squeeze1(self.pool(self.conv2(self.conv1(x))))
        x = self.squeeze2(self.conv4(self.conv3(x)))
        x = self.gap(self.head(self.conv6(self.conv5(x))))
        return F.log_softmax(x.flatten(1), dim=1)


@register("ref0", "notebook 000: 16-32-64-128 convs + 1x1 + GAP; 98,922 params, over the 20k budget")
def ref0(**kw):
    return Ref0(**kw)


@register("ref1", "notebook 001: five 3x3 conv blocks (ReLU before BN), AvgPool, GAP + 1x1; 14,320 params")
def ref1(**kw):
    return Ref1(**kw)


@register("ref2", "notebook 002: six 3x3 convs, two MaxPool+BN+Dropout, Linear(128,10); 19,378 params")
def ref2(**kw):
    return Ref2(**kw)


@register(
    "ref3",
    "notebook 003: 8-12 | 1x1 10 | 12-12-16-16 + GAP; 7,776 params; layout inferred from its channel plan "
    "(no BN on the 1x1 transition)",
)
def ref3(**kw):
    return Ref3(**kw)


@register("ref4", "notebook 004: 16-32 at 28x28, 1x1 squeeze + Dropout 0.3, 6x6 AvgPool; 17,466 params")
def ref4(**kw):
    return Ref4(**kw)
