"""ResNet-20/32/56 for CIFAR (He et al. 2016, section 4.2): 3 stages of 16, 32, 64 channels.

A ResNet-(6n+2) has a 3x3 stem conv, three stages of ``n`` basic blocks (two 3x3
convs each; the first block of stages 2 and 3 halves the resolution), global average
pooling and one linear layer.

The shortcut where the shape changes is an option:

- ``"A"`` (default, the paper's CIFAR choice): parameter-free, a strided identity with
  zero channels appended. ResNet-20 then has 269,722 parameters (0.27M, as in the paper).
- ``"B"``: a strided 1x1 conv plus batch norm (the projection shortcut).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from suite.data.info import DatasetInfo
from suite.models.checkpoint import ModelOptions
from suite.models.init import kaiming_init
from suite.models.registry import register_model


@dataclass(frozen=True)
class ResNetCifarOptions(ModelOptions):
    """``[model.resnet20]`` (and 32, 56): the shortcut type where the shape changes."""

    shortcut: Literal["A", "B"] = "A"


class ZeroPadShortcut(nn.Module):
    """Option A: take every ``stride``-th pixel and append ``extra`` zero channels."""

    def __init__(self, extra: int, stride: int) -> None:
        super().__init__()
        self.extra, self.stride = extra, stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x[:, :, :: self.stride, :: self.stride]
        return F.pad(x, (0, 0, 0, 0, 0, self.extra))


class BasicBlock(nn.Module):
    """conv3x3-BN-ReLU-conv3x3-BN, plus the shortcut, then ReLU."""

    def __init__(self, cin: int, cout: int, stride: int, shortcut: str) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or cin != cout:
            if shortcut == "A":
                self.shortcut = ZeroPadShortcut(cout - cin, stride)
            else:
                self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False),
                                              nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.shortcut(x))


class ResNetCifar(nn.Module):
    """ResNet-(6n+2) with stage widths ``widths`` for ``num_classes`` classes."""

    def __init__(self, depth: int, num_classes: int, in_channels: int = 3,
                 widths: tuple[int, int, int] = (16, 32, 64), shortcut: str = "A") -> None:
        super().__init__()
        if (depth - 2) % 6:
            raise ValueError(f"depth {depth} is not 6n+2")
        n = (depth - 2) // 6
        self.conv1 = nn.Conv2d(in_channels, widths[0], 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.relu = nn.ReLU(inplace=True)
        stages, cin = [], widths[0]
        for i, cout in enumerate(widths):
            blocks = []
            for b in range(n):
                blocks.append(BasicBlock(cin, cout, 2 if (i > 0 and b == 0) else 1, shortcut))
                cin = cout
            stages.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3 = stages
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(widths[-1], num_classes)
        kaiming_init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(torch.flatten(self.pool(x), 1))


def _build(depth: int, info: DatasetInfo, options: ResNetCifarOptions) -> nn.Module:
    return ResNetCifar(depth, info.num_classes, info.image_shape[0], shortcut=options.shortcut)


@register_model("resnet20", options=ResNetCifarOptions, label="ResNet-20")
def resnet20(info: DatasetInfo, options: ResNetCifarOptions) -> nn.Module:
    """ResNet-20 for CIFAR (He et al. 2016; 3 x 3 basic blocks, 0.27M parameters)."""
    return _build(20, info, options)


@register_model("resnet32", options=ResNetCifarOptions, label="ResNet-32")
def resnet32(info: DatasetInfo, options: ResNetCifarOptions) -> nn.Module:
    """ResNet-32 for CIFAR (He et al. 2016; 3 x 5 basic blocks, 0.46M parameters)."""
    return _build(32, info, options)


@register_model("resnet56", options=ResNetCifarOptions, label="ResNet-56")
def resnet56(info: DatasetInfo, options: ResNetCifarOptions) -> nn.Module:
    """ResNet-56 for CIFAR (He et al. 2016; 3 x 9 basic blocks, 0.85M parameters)."""
    return _build(56, info, options)
