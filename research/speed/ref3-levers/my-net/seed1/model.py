"""A network as a student writes one for the exercise (< 8k parameters, BatchNorm, Dropout, GAP).

Use it from the command line:
    mnistlab summary examples/my_net.py:Net
    mnistlab check examples/my_net.py:Net
    mnistlab train --model examples/my_net.py:Net --config ref3
    mnistlab train --model examples/my_net.py:Net --config ref3 --set 'model_kwargs={dropout = 0.1}'
"""

import torch.nn.functional as F
from torch import nn


def block(cin: int, cout: int, dropout: float) -> nn.Sequential:
    """3x3 conv (no padding: 2 px smaller) -> BatchNorm -> ReLU -> Dropout."""
    return nn.Sequential(nn.Conv2d(cin, cout, 3, bias=False), nn.BatchNorm2d(cout), nn.ReLU(), nn.Dropout(dropout))


class Net(nn.Module):
    def __init__(self, dropout: float = 0.05):
        super().__init__()
        self.conv1 = block(1, 8, dropout)  # 28 -> 26, RF 3
        self.conv2 = block(8, 16, dropout)  # 26 -> 24, RF 5
        self.pool = nn.MaxPool2d(2)  # 24 -> 12, RF 6
        self.squeeze = nn.Conv2d(16, 8, 1, bias=False)  # 1x1: fewer channels before the next block
        self.conv3 = block(8, 12, dropout)  # 12 -> 10, RF 10
        self.conv4 = block(12, 16, dropout)  # 10 -> 8, RF 14
        self.conv5 = block(16, 16, 0.0)  # 8 -> 6, RF 18
        self.head = nn.Conv2d(16, 10, 1)  # after global average pooling: (N, 16, 1, 1) -> (N, 10, 1, 1)

    def forward(self, x):  # x: (N, 1, 28, 28)
        x = self.pool(self.conv2(self.conv1(x)))
        x = self.conv5(self.conv4(self.conv3(self.squeeze(x))))  # (N, 16, 6, 6)
        x = self.head(F.adaptive_avg_pool2d(x, 1)).flatten(1)  # (N, 10)
        return F.log_softmax(x, dim=1)
