"""Drop-and-grow sparse training: a fixed number of weights, rewired during training.

:class:`DropGrow` starts from a random mask at the target density (per-layer counts
from :mod:`methods.distributions`) and, whenever :meth:`due`, drops some active
weights (:meth:`DropGrow.drop`, *what to remove*) and grows the same number back:
:meth:`DropGrow.grow_weights` shares them across layers (*how much per layer*, capped
by each layer's free slots) and :meth:`DropGrow.grow_scores` picks the positions
(*where*). Grown weights start at zero; the number of active weights never changes,
so the target sparsity holds throughout. Sparse momentum and DSR are subclasses.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch

from methods.distributions import apportion, erdos_renyi_counts, uniform_counts
from methods.masks import random_masks, topk_masks
from methods.updater import LayerOptions, MaskUpdater


@dataclass(frozen=True)
class DropGrowOptions(LayerOptions):
    """``distribution`` of the initial random mask: "uniform" (the same density in
    every layer) or "erdos_renyi" (density proportional to sum(shape)/prod(shape))."""

    distribution: Literal["uniform", "erdos_renyi"] = "uniform"


class DropGrow(MaskUpdater):
    """Random initial mask, then rewiring by drop / grow_weights / grow_scores."""

    mask_mode = "hard"
    moves_mask = True

    def initial_masks(self, model, batch, loss_fn) -> dict[str, torch.Tensor]:
        shapes = {n: p.shape for n, p in self._params.items()}
        if self.options.distribution == "uniform":
            counts = uniform_counts([p.numel() for p in self._params.values()], self.ctx.sparsity)
        else:
            counts = erdos_renyi_counts([tuple(s) for s in shapes.values()], self.ctx.sparsity)
        masks = random_masks(shapes, dict(zip(shapes, counts, strict=True)), self.generator(0))
        return {n: m.to(self._params[n].device) for n, m in masks.items()}

    def drop(self, step: int, optimizer: torch.optim.Optimizer) -> dict[str, torch.Tensor]:
        """The masks after removing weights (a subset of the current masks)."""
        raise NotImplementedError

    def grow_weights(self, kept: dict[str, torch.Tensor], optimizer: torch.optim.Optimizer) -> list[float]:
        """Per layer, the weight of its share of the regrown count."""
        raise NotImplementedError

    def grow_scores(self, name: str, generator: torch.Generator,
                    optimizer: torch.optim.Optimizer) -> torch.Tensor:
        """Non-negative scores of layer ``name``'s positions; the best free ones are grown.
        ``generator`` is this update's (seed, step) generator, shared by the layers in order."""
        raise NotImplementedError

    @torch.no_grad()
    def update(self, step: int, optimizer: torch.optim.Optimizer) -> None:
        names = list(self.masks)
        kept = self.drop(step, optimizer)
        alive = [int(kept[n].count_nonzero()) for n in names]
        removed = sum(int(self.masks[n].count_nonzero()) for n in names) - sum(alive)
        free = [kept[n].numel() - a for n, a in zip(names, alive, strict=True)]
        counts = apportion(removed, self.grow_weights(kept, optimizer), caps=free)
        new, generator = {}, self.generator(step)
        for name, count in zip(names, counts, strict=True):
            self._params[name].mul_(kept[name])  # dropped weights are zero, so regrown ones start at 0
            scores = torch.where(kept[name], -1.0, self.grow_scores(name, generator, optimizer).float())
            new[name] = kept[name] | topk_masks({name: scores}, count)[name]
        self.set_masks(new, optimizer, step)
