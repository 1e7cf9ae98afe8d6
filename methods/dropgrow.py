"""Drop-and-grow sparse training: a fixed number of weights, rewired during training.

:class:`DropGrow` starts from a random mask at the target density (per-layer counts
from :mod:`methods.distributions`) and, whenever :meth:`due`, drops some active
weights (:meth:`DropGrow.drop`, *what to remove*) and grows the same number back:
:meth:`DropGrow.grow_counts` shares them across layers (*how much per layer*, capped
by each layer's free slots; by default in proportion to :meth:`DropGrow.grow_weights`)
and :meth:`DropGrow.grow_scores` picks the positions (*where*; with ``regrow_dropped``
false, never where this update dropped a weight, unless nothing else is free). Grown
weights start at zero; the number of active weights never changes, so the target
sparsity holds throughout (a subclass may start them elsewhere:
:meth:`DropGrow.grown_values`). Sparse momentum and DSR are subclasses.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

import torch

from methods.distributions import apportion, random_distribution_masks
from methods.mask_modes import HARD
from methods.masks import topk_masks
from methods.updater import LayerOptions, MaskUpdater

#: The distributions of :mod:`methods.distributions`, and "erdos_renyi", the older name
#: of "erk" (kept so that specs naming it keep their cell ids).
InitialDistribution = Literal["uniform", "erdos_renyi", "erk", "er", "global"]


@dataclass(frozen=True)
class DropGrowOptions(LayerOptions):
    """``distribution`` of the initial random mask: "uniform" (the same density in
    every layer), "erk" (density proportional to sum(shape)/prod(shape); "erdos_renyi"
    is the same under its older name), "er" (proportional to (n_in + n_out)/(n_in n_out))
    or "global" (one draw over all positions of all layers)."""

    distribution: InitialDistribution = "uniform"


class DropGrow(MaskUpdater):
    """Random initial mask, then rewiring by drop / grow_counts / grow_scores."""

    mask_mode = HARD
    moves_mask = True
    #: Whether a position dropped by an update may be grown again by the same update.
    #: If not, it is grown only when no other free position is left anywhere.
    regrow_dropped: ClassVar[bool] = True
    #: Whether a position dropped and grown again by the same update keeps its weight
    #: (and momentum), as if it had never been dropped; if not, it restarts at zero.
    regrown_keep_value: ClassVar[bool] = False
    #: Whether grown weights also start with zero momentum (hard mode zeroes the momentum
    #: of pruned weights anyway, so this matters for positions dropped and grown again).
    reset_grown_momentum: ClassVar[bool] = False

    def initial_masks(self, model, batch, loss_fn) -> dict[str, torch.Tensor]:
        shapes = {n: p.shape for n, p in self._params.items()}
        masks = random_distribution_masks(shapes, self.ctx.sparsity, self.options.distribution,
                                          self.generator(0))
        return {n: m.to(self._params[n].device) for n, m in masks.items()}

    def drop(self, step: int, optimizer: torch.optim.Optimizer) -> dict[str, torch.Tensor]:
        """The masks after removing weights (a subset of the current masks)."""
        raise NotImplementedError

    def grow_weights(self, kept: dict[str, torch.Tensor], optimizer: torch.optim.Optimizer) -> list[float]:
        """Per layer, the weight of its share of the regrown count."""
        raise NotImplementedError

    def grow_counts(self, removed: int, kept: dict[str, torch.Tensor], free: list[int],
                    optimizer: torch.optim.Optimizer) -> list[int]:
        """Per layer, how many of the ``removed`` weights it regrows, at most ``free[i]``:
        by default in proportion to :meth:`grow_weights`, a capped layer's surplus
        shared again in the same proportions."""
        return apportion(removed, self.grow_weights(kept, optimizer), caps=free)

    def grow_scores(self, name: str, generator: torch.Generator,
                    optimizer: torch.optim.Optimizer) -> torch.Tensor:
        """Non-negative scores of layer ``name``'s positions; the best free ones are grown.
        ``generator`` is this update's (seed, step) generator, shared by the layers in order."""
        raise NotImplementedError

    def grown_values(self, name: str, generator: torch.Generator) -> torch.Tensor | None:
        """Values, shaped like layer ``name``, that its grown weights start from (drawn
        from this update's ``generator`` after the layer's :meth:`grow_scores`); None,
        the default, starts them at zero."""
        return None

    def counts(self, removed: int, kept: dict[str, torch.Tensor], dropped: dict[str, torch.Tensor],
               optimizer: torch.optim.Optimizer) -> list[int]:
        """How many weights each layer regrows, so that exactly ``removed`` come back."""
        dropped_n = [int(d.count_nonzero()) for d in dropped.values()]
        free = [k.numel() - int(k.count_nonzero()) for k in kept.values()]
        if self.regrow_dropped:
            return self.grow_counts(removed, kept, free, optimizer)
        fresh = [f - d for f, d in zip(free, dropped_n, strict=True)]
        if sum(fresh) >= removed:
            return self.grow_counts(removed, kept, fresh, optimizer)
        # too full: every other free position first, the rest where weights were dropped
        rest = self.grow_counts(removed - sum(fresh), kept, dropped_n, optimizer)
        return [f + r for f, r in zip(fresh, rest, strict=True)]

    @torch.no_grad()
    def update(self, step: int, optimizer: torch.optim.Optimizer) -> None:
        names = list(self.masks)
        kept = self.drop(step, optimizer)
        dropped = {n: self.masks[n] & ~kept[n] for n in names}
        removed = sum(int(d.count_nonzero()) for d in dropped.values())
        counts = self.counts(removed, kept, dropped, optimizer)
        new, generator = {}, self.generator(step)
        for name, count in zip(names, counts, strict=True):
            scores = self.grow_scores(name, generator, optimizer).float()
            if not self.regrow_dropped:  # below every other free position
                scores = torch.where(dropped[name], -1.0, scores)
            scores = torch.where(kept[name], -2.0, scores)  # never: already active
            grown = topk_masks({name: scores}, count)[name] & ~kept[name]
            new[name] = kept[name] | grown
            if self.regrown_keep_value:
                grown = grown & ~dropped[name]
            param = self._params[name]
            param.mul_(~grown & new[name])  # dropped weights are zero, so grown ones start at 0
            values = self.grown_values(name, generator)
            if values is not None:
                param.copy_(torch.where(grown, values.to(device=param.device, dtype=param.dtype), param))
            buf = optimizer.state.get(param, {}).get("momentum_buffer")
            if self.reset_grown_momentum and buf is not None:
                buf.mul_(~grown)
        self.set_masks(new, optimizer, step)
