"""Multiply-accumulate counts per prunable layer, measured with one forward pass."""

from __future__ import annotations

import torch
from torch import nn


@torch.no_grad()
def layer_macs(model: nn.Module, image_shape: tuple[int, int, int]) -> dict[str, int]:
    """MACs of one image through each conv and linear layer, keyed by its weight's name."""
    names = {id(m): n for n, m in model.named_modules()}
    counts: dict[str, int] = {}

    def hook(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        key = f"{names[id(module)]}.weight" if names[id(module)] else "weight"
        if isinstance(module, nn.Conv2d):
            per_position = module.weight[0].numel()  # in/groups * kh * kw
            counts[key] = output[0].numel() * per_position
        else:
            counts[key] = module.weight.numel()

    handles = [
        m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))
    ]
    was_training = model.training
    model.eval()
    try:
        param = next(model.parameters())
        model(torch.zeros((1, *image_shape), device=param.device, dtype=param.dtype))
    finally:
        model.train(was_training)
        for h in handles:
            h.remove()
    return counts
