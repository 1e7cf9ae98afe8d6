"""The weight initialization the CIFAR models share (He et al.'s, as in their sources)."""

from __future__ import annotations

from torch import nn


def kaiming_init(model: nn.Module, *, zero_linear_bias: bool = False) -> None:
    """Kaiming-normal conv weights (fan out), unit BN scale and zero BN shift, in module
    order; optionally zero linear biases (WideResNet's reference does)."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif zero_linear_bias and isinstance(m, nn.Linear):
            nn.init.zeros_(m.bias)
