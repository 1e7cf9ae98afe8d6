"""MACs of the model that actually runs, counted by ``torch.utils.flop_counter``
(torch's own per-operator formulas; one MAC is two FLOPs)."""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


@torch.no_grad()
def count_macs(model: nn.Module, image_shape: tuple[int, ...]) -> int:
    """MACs of one image through ``model`` (dense kernels: every weight counts)."""
    param = next(model.parameters())
    x = torch.zeros((1, *image_shape), dtype=param.dtype, device=param.device)
    with FlopCounterMode(display=False) as counter:
        model.eval()(x)
    return int(counter.get_total_flops() // 2)


@torch.no_grad()
def count_kept_macs(model: nn.Module, image_shape: tuple[int, ...]) -> int:
    """MACs of one image when only non-zero weights multiply: each conv and linear
    layer's counted MACs times the fraction of its weights that are non-zero (what a
    perfect sparse kernel would do)."""
    param = next(model.parameters())
    x = torch.zeros((1, *image_shape), dtype=param.dtype, device=param.device)
    total = 0.0
    layers = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    with FlopCounterMode(display=False) as counter:
        model.eval()(x)
    counts = counter.get_flop_counts()
    names = {id(m): n for n, m in model.named_modules()}
    root = type(model).__name__
    layer_flops = 0
    for layer in layers:
        key = f"{root}.{names[id(layer)]}" if names[id(layer)] else root
        flops = sum(counts.get(key, {}).values())
        layer_flops += flops
        density = float((layer.weight != 0).sum()) / layer.weight.numel()
        total += flops / 2 * density
    rest = counter.get_total_flops() - layer_flops
    return int(round(total + rest / 2))
