"""A small VGG-style CNN for 28x28 images: about 435k parameters, trains in seconds per epoch on CPU.

Four 3x3 convolutions (so that filter statistics have depth to look at), two max-pools and a
two-layer classifier head.
"""

from __future__ import annotations

from torch import nn


class SmallCNN(nn.Module):
    def __init__(self, num_classes: int = 10, in_channels: int = 1, image_size: int = 28):
        super().__init__()
        widths = (16, 32, 32, 64)
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, widths[0], 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(widths[0], widths[1], 3, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.Conv2d(widths[1], widths[2], 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(widths[2], widths[3], 3, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
        )
        side = image_size // 4
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(widths[3] * side * side, 128),
            nn.ReLU(inplace=True),
            nn.Linear(128, num_classes),
        )

    def forward(self, x):
        return self.classifier(self.features(x))


def build(num_classes: int, in_channels: int, image_size: int) -> SmallCNN:
    """The registry's builder (``smallcnn``)."""
    return SmallCNN(num_classes, in_channels, image_size)
