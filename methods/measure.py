"""Measure, do not assume: sparsity, parameters and MACs counted from the weights."""

from __future__ import annotations

import torch
from torch import nn

#: A result whose achieved sparsity is further than this from its target is flagged.
OFF_TARGET_TOLERANCE = 0.005


@torch.no_grad()
def sparsity_summary(model: nn.Module, prunable: dict[str, nn.Parameter], target: float,
                     macs: dict[str, int]) -> dict:
    """Achieved sparsity (overall and per layer, over the prunable weights), kept
    parameters and kept MACs, and whether the overall value is off its target."""
    per_layer: dict[str, float] = {}
    zeros = total = 0
    kept_macs = 0.0
    for name, p in prunable.items():
        z = p.numel() - int(torch.count_nonzero(p))
        n = p.numel()
        per_layer[name] = z / n
        zeros += z
        total += n
        kept_macs += macs.get(name, 0) * (1 - z / n)
    all_params = sum(p.numel() for p in model.parameters())
    overall = zeros / total if total else 0.0
    return {
        "target": target,
        "overall": overall,
        "per_layer": per_layer,
        "off_target": abs(overall - target) > OFF_TARGET_TOLERANCE,
        "params_total": all_params,
        "params_prunable": total,
        "params_kept": all_params - zeros,
        "macs_total": int(sum(macs.values())),
        "macs_kept": int(round(kept_macs + sum(v for k, v in macs.items() if k not in prunable))),
    }
