"""Wide ResNet (Zagoruyko and Komodakis, 2016) as in TRADES, MART and RobustBench: WRN-depth-width."""

from __future__ import annotations

import torch.nn.functional as F
from torch import nn


class WideBlock(nn.Module):
    def __init__(self, in_planes: int, out_planes: int, stride: int):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.conv1 = nn.Conv2d(in_planes, out_planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_planes)
        self.conv2 = nn.Conv2d(out_planes, out_planes, 3, 1, 1, bias=False)
        self.equal = in_planes == out_planes
        self.shortcut = (
            None if self.equal else nn.Conv2d(in_planes, out_planes, 1, stride, bias=False)
        )

    def forward(self, x):
        out = F.relu(self.bn1(x))
        shortcut = x if self.equal else self.shortcut(out)
        out = self.conv2(F.relu(self.bn2(self.conv1(out))))
        return out + shortcut


class WideResNet(nn.Module):
    def __init__(self, depth: int, width: int, num_classes: int = 10, in_channels: int = 3):
        super().__init__()
        if (depth - 4) % 6:
            raise ValueError(f"WRN depth must be 6n + 4, got {depth}")
        n = (depth - 4) // 6
        channels = (16, 16 * width, 32 * width, 64 * width)
        self.conv1 = nn.Conv2d(in_channels, channels[0], 3, 1, 1, bias=False)
        stages, in_planes = [], channels[0]
        for planes, stride in zip(channels[1:], (1, 2, 2), strict=True):
            stages.append(nn.Sequential(*[
                WideBlock(in_planes if i == 0 else planes, planes, stride if i == 0 else 1)
                for i in range(n)
            ]))  # fmt: skip
            in_planes = planes
        self.blocks = nn.Sequential(*stages)
        self.bn = nn.BatchNorm2d(channels[3])
        self.fc = nn.Linear(channels[3], num_classes)

    def forward(self, x):
        out = F.relu(self.bn(self.blocks(self.conv1(x))))
        return self.fc(F.adaptive_avg_pool2d(out, 1).flatten(1))


# The registry's builders (``wrn-<depth>-<width>``); any image size works.
def build_wrn_16_4(num_classes: int, in_channels: int, image_size: int) -> WideResNet:
    return WideResNet(16, 4, num_classes, in_channels)


def build_wrn_28_10(num_classes: int, in_channels: int, image_size: int) -> WideResNet:
    return WideResNet(28, 10, num_classes, in_channels)


def build_wrn_34_10(num_classes: int, in_channels: int, image_size: int) -> WideResNet:
    return WideResNet(34, 10, num_classes, in_channels)
