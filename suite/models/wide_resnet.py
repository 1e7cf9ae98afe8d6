"""WideResNet-28-k for CIFAR (Zagoruyko & Komodakis 2016): pre-activation basic blocks.

WRN-d-k has a 3x3 stem conv to 16 channels, three groups of ``(d - 4) / 6`` blocks of
widths 16k, 32k and 64k (groups 2 and 3 start with stride 2), then BN-ReLU, global
average pooling and a linear layer. A block is BN-ReLU-conv3x3-BN-ReLU-dropout-conv3x3;
where the width or resolution changes, the shortcut is a 1x1 conv applied to the
pre-activated input (as in the authors' code). Dropout defaults to 0 (the DPF setup).
WRN-28-2 has 1,467,610 parameters and about 216M MACs per 32x32 image.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from suite.data.info import DatasetInfo
from suite.models.checkpoint import ModelOptions
from suite.models.init import kaiming_init
from suite.models.registry import register_model


@dataclass(frozen=True)
class WideResNetOptions(ModelOptions):
    """``[model.wrn28_k]``: dropout probability between the two convs of a block."""

    dropout: float = 0.0

    def validate(self) -> str | None:
        if not 0.0 <= self.dropout < 1.0:
            return f"dropout = {self.dropout} must lie in [0, 1)"
        return None


class PreActBlock(nn.Module):
    """BN-ReLU-conv3x3-BN-ReLU-(dropout)-conv3x3 plus the (projected) shortcut."""

    def __init__(self, cin: int, cout: int, stride: int, dropout: float) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.dropout = dropout
        self.shortcut = (nn.Conv2d(cin, cout, 1, stride=stride, bias=False)
                         if stride != 1 or cin != cout else None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        o = F.relu(self.bn1(x))
        skip = self.shortcut(o) if self.shortcut is not None else x
        o = F.relu(self.bn2(self.conv1(o)))
        if self.dropout > 0:
            o = F.dropout(o, p=self.dropout, training=self.training)
        return self.conv2(o) + skip


class WideResNet(nn.Module):
    """WRN-``depth``-``width`` for ``num_classes`` classes."""

    def __init__(self, depth: int, width: int, num_classes: int, in_channels: int = 3,
                 dropout: float = 0.0) -> None:
        super().__init__()
        if (depth - 4) % 6:
            raise ValueError(f"depth {depth} is not 6n+4")
        n = (depth - 4) // 6
        widths = (16 * width, 32 * width, 64 * width)
        self.conv1 = nn.Conv2d(in_channels, 16, 3, padding=1, bias=False)
        groups, cin = [], 16
        for i, cout in enumerate(widths):
            blocks = []
            for b in range(n):
                blocks.append(PreActBlock(cin, cout, 2 if (i > 0 and b == 0) else 1, dropout))
                cin = cout
            groups.append(nn.Sequential(*blocks))
        self.block1, self.block2, self.block3 = groups
        self.bn = nn.BatchNorm2d(cin)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(cin, num_classes)
        kaiming_init(self, zero_linear_bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.block3(self.block2(self.block1(self.conv1(x))))
        x = F.relu(self.bn(x))
        return self.fc(torch.flatten(self.pool(x), 1))


def _build(width: int, info: DatasetInfo, options: WideResNetOptions) -> nn.Module:
    return WideResNet(28, width, info.num_classes, info.image_shape[0], options.dropout)


@register_model("wrn28_2", options=WideResNetOptions, label="WRN-28-2")
def wrn28_2(info: DatasetInfo, options: WideResNetOptions) -> nn.Module:
    """WideResNet-28-2 (pre-activation; 1.47M parameters, 216M MACs on 32x32)."""
    return _build(2, info, options)


@register_model("wrn28_4", options=WideResNetOptions, label="WRN-28-4")
def wrn28_4(info: DatasetInfo, options: WideResNetOptions) -> nn.Module:
    """WideResNet-28-4 (pre-activation; 5.85M parameters)."""
    return _build(4, info, options)


@register_model("wrn28_8", options=WideResNetOptions, label="WRN-28-8")
def wrn28_8(info: DatasetInfo, options: WideResNetOptions) -> nn.Module:
    """WideResNet-28-8 (pre-activation; 23.4M parameters)."""
    return _build(8, info, options)
