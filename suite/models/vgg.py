"""VGG-16 (configuration D of Simonyan & Zisserman) with batch norm, CIFAR-sized.

Thirteen 3x3 conv-BN-ReLU layers in five stages (64, 128, 256, 512, 512 channels), each
stage followed by 2x2 max pooling, then global average pooling and one linear layer
(the common CIFAR variant; no 4096-wide classifier). On 32x32 inputs the features are
1x1 before pooling, so the global pooling changes nothing there; it lets smaller images
(Fashion-MNIST, digits) through, with ``ceil_mode`` pooling keeping odd sizes alive.
Convs have no bias (each is followed by batch norm).
"""

from __future__ import annotations

import torch
from torch import nn

from suite.data.info import DatasetInfo
from suite.models.checkpoint import ModelOptions
from suite.models.init import kaiming_init
from suite.models.registry import register_model

#: Configuration D: conv widths, "M" = 2x2 max pooling.
VGG16_CONFIG: tuple[int | str, ...] = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M",
                                       512, 512, 512, "M", 512, 512, 512, "M")


class VGG(nn.Module):
    """VGG feature stack from ``config`` with batch norm, then pooling and a linear head."""

    def __init__(self, config: tuple[int | str, ...], num_classes: int, in_channels: int = 3) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        cin = in_channels
        for v in config:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2, ceil_mode=True))
            else:
                layers += [nn.Conv2d(cin, int(v), 3, padding=1, bias=False), nn.BatchNorm2d(int(v)),
                           nn.ReLU(inplace=True)]
                cin = int(v)
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(cin, num_classes)
        kaiming_init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.pool(self.features(x)), 1))


@register_model("vgg16", options=ModelOptions, label="VGG-16")
def vgg16(info: DatasetInfo, options: ModelOptions) -> nn.Module:
    """VGG-16 (config D) with batch norm for CIFAR-sized images (14.7M parameters)."""
    return VGG(VGG16_CONFIG, info.num_classes, info.image_shape[0])
