"""Small models for the quickstart and the fast tests: an MLP and a small CNN."""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from suite.data.info import DatasetInfo
from suite.models.checkpoint import ModelOptions
from suite.models.registry import register_model


@dataclass(frozen=True)
class MLPOptions(ModelOptions):
    """``[model.mlp]``: hidden layer widths."""

    hidden: tuple[int, ...] = (256, 128)

    def validate(self) -> str | None:
        if not self.hidden or any(h <= 0 for h in self.hidden):
            return f"hidden = {list(self.hidden)} must be a non-empty list of positive widths"
        return None


@register_model("mlp", options=MLPOptions, label="MLP")
def mlp(info: DatasetInfo, options: MLPOptions) -> nn.Module:
    """Multi-layer perceptron with ReLU and batch norm on the flattened image."""
    c, h, w = info.image_shape
    layers: list[nn.Module] = [nn.Flatten()]
    width = c * h * w
    for hidden in options.hidden:
        layers += [nn.Linear(width, hidden), nn.BatchNorm1d(hidden), nn.ReLU(inplace=True)]
        width = hidden
    layers.append(nn.Linear(width, info.num_classes))
    return nn.Sequential(*layers)


@dataclass(frozen=True)
class SmallCNNOptions(ModelOptions):
    """``[model.small_cnn]``: channels of the two conv stages."""

    channels: tuple[int, ...] = (32, 64)

    def validate(self) -> str | None:
        if len(self.channels) != 2 or any(c <= 0 for c in self.channels):
            return f"channels = {list(self.channels)} must be two positive integers"
        return None


@register_model("small_cnn", options=SmallCNNOptions, label="Small CNN")
def small_cnn(info: DatasetInfo, options: SmallCNNOptions) -> nn.Module:
    """Two conv-BN-ReLU stages (the second strided), global pooling and a linear head."""
    c = info.image_shape[0]
    c1, c2 = options.channels
    return nn.Sequential(
        nn.Conv2d(c, c1, 3, padding=1, bias=False), nn.BatchNorm2d(c1), nn.ReLU(inplace=True),
        nn.Conv2d(c1, c2, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(c2),
        nn.ReLU(inplace=True), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        nn.Linear(c2, info.num_classes),
    )
