"""LTH, iterative magnitude pruning with rewinding (Frankle & Carbin, ICLR 2019, "The
Lottery Ticket Hypothesis"; Frankle, Dziugaite, Roy, Carbin, ICML 2020, "Linear Mode
Connectivity and the Lottery Ticket Hypothesis").

A run is several trainings, its *rounds* (:meth:`methods.base.Method.rounds`): train
the whole recipe, prune ``prune_fraction`` of the weights that are left by magnitude,
rewind the survivors (and every other parameter and buffer) to their values after
optimizer step ``rewind_step`` of the first round, train again, until the target
sparsity is reached. Round ``r`` trains at sparsity ``1 - (1 - p)^(r - 1)``; the last
round is pruned exactly to the target, so ``n`` prunings and ``n + 1`` rounds, ``n``
the smallest with ``1 - (1 - p)^n >= target`` (90% at p = 0.2: 11 prunings, 12 rounds).
Pruned weights are zero and get no update (hard mask); masks only shrink.

Against the papers and their reference code (facebookresearch/open_lth, ``lottery``
runner, ``sparse_global`` pruning):

- prune 20% of the remaining weights per round (``prune_fraction = 0.2``), one
  magnitude ranking over all prunable layers (``scope = "global"``): as the 2020 paper
  and the reference; the 2019 paper's per-layer rates are ``scope = "layer"``;
- rewinding to step k = 0 (``rewind_step = 0``: the original initialization, the 2019
  lottery ticket): as the 2019 paper; the 2020 paper's "rewinding" to an early step k
  (e.g. 500 to 2000 iterations for ResNet-20 on CIFAR-10) is ``rewind_step = k``, in
  optimizer steps of the first round; what is rewound is the whole model state at that
  step (weights, biases, batch-norm parameters and statistics): as the reference;
- every round trains the whole recipe from its first step with a fresh optimizer: the
  learning-rate schedule, warm-up and momentum restart: as the papers for k = 0; for
  k > 0 the papers train the rest, steps k to T, from the schedule's step k, here all
  T steps again: a choice, so every round has the same length and cost (k steps more
  per round, at the start of the schedule);
- each round sees its own data order (epoch ``e`` of round ``r`` is data epoch
  ``(r - 1) E + e``, a function of the seed): a choice, because the papers retrain
  without fixing the order to the first round's;
- every conv and linear weight is pruned, first conv and classifier included, at the
  same rate: a choice, so the target holds over the same weights as DPF, incremental
  and one-shot pruning; the reference leaves the output layer dense for its ResNets
  (``pruning_layers_to_ignore = 'fc.weight'``: here ``exclude_last_linear = true``)
  and the 2019 paper prunes the output layer of its conv nets at half the rate (not
  offered);
- ``rounds`` overrides the count: that many rounds, each pruning the same fraction
  ``1 - (1 - target)^(1 / (rounds - 1))`` of what is left: a choice, for budgets.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import nn

from methods.base import METHODS
from methods.mask_modes import HARD
from methods.masks import sparsity_masks
from methods.updater import LayerOptions, MaskUpdater
from suite.errors import SuiteError

#: Slack for float powers: (1 - 0.2)^2 is 0.6400000000000001, which meets 64% density.
_EPS = 1e-9


def pruning_count(target: float, prune_fraction: float) -> int:
    """The smallest ``n`` with ``1 - (1 - prune_fraction)^n >= target``."""
    if target <= 0.0:
        return 0
    return max(1, math.ceil(math.log(1.0 - target) / math.log(1.0 - prune_fraction) - _EPS))


def round_sparsities(target: float, prune_fraction: float, rounds: int | None = None) -> list[float]:
    """The sparsity each round trains at, round 1 (dense) to the last (``target``)."""
    if target <= 0.0:
        return [0.0]
    if rounds is None:
        n = pruning_count(target, prune_fraction)
        return [1.0 - (1.0 - prune_fraction) ** r for r in range(n)] + [target]
    n = rounds - 1
    return [1.0 - (1.0 - target) ** (r / n) for r in range(n)] + [target]


@dataclass(frozen=True)
class LTHOptions(LayerOptions):
    """``[method.lth]``.

    - ``prune_fraction`` (0.2, as the papers): p, the fraction of the remaining weights
      pruned after each round.
    - ``rounds`` (None: from the target and p, as the papers): the number of rounds
      (trainings), at least 2; each then prunes the same fraction (a choice).
    - ``rewind_step`` (0, as the 2019 paper; the 2020 paper's k): the optimizer step of
      the first round whose model state the survivors are rewound to.
    - ``scope`` ("global", as the 2020 paper; "layer": every layer at the same rate,
      as the 2019 paper's fully connected nets).
    - ``exclude_first_conv`` / ``exclude_last_linear`` / ``exclude_shortcuts`` (False).
    """

    prune_fraction: float = 0.2
    rounds: int | None = None
    rewind_step: int = 0
    scope: Literal["global", "layer"] = "global"

    def validate(self) -> str | None:
        if not 0.0 < self.prune_fraction < 1.0:
            return f"prune_fraction = {self.prune_fraction} must lie in (0, 1)"
        if self.rounds is not None and self.rounds < 2:
            return f"rounds = {self.rounds} must be at least 2 (or be left out)"
        if self.rewind_step < 0:
            return f"rewind_step = {self.rewind_step} must be a number of steps >= 0"
        return None


@METHODS.register("lth")
class LTH(MaskUpdater):
    """Lottery tickets (Frankle & Carbin 2019; Frankle et al. 2020): iterative magnitude pruning, rewinding.

    Round after round: train, prune 20% of what is left globally by magnitude, rewind
    the survivors to step k (0: the initialization), until the target sparsity."""

    name = "lth"
    label = "LTH"
    Options = LTHOptions
    mask_mode = HARD

    @classmethod
    def rounds(cls, options: Any, sparsity: float) -> int:
        return len(round_sparsities(sparsity, options.prune_fraction, options.rounds))

    def __init__(self, options: Any, ctx: Any) -> None:
        super().__init__(options, ctx)
        if options.rewind_step > ctx.total_steps:
            raise SuiteError(f"[method.lth] rewind_step = {options.rewind_step} lies beyond the "
                             f"{ctx.total_steps} steps of a round; use at most {ctx.total_steps}")
        self.sparsities = round_sparsities(ctx.sparsity, options.prune_fraction, options.rounds)
        self.round = 1
        self.rewind: dict[str, torch.Tensor] = {}

    def setup(self, model: nn.Module, batch: Any, loss_fn: Any) -> None:
        super().setup(model, batch, loss_fn)
        if self.options.rewind_step == 0:
            self.snapshot(model)

    def on_step(self, step: int, model: nn.Module, optimizer: torch.optim.Optimizer) -> None:
        if self.round == 1 and step == self.options.rewind_step:
            self.snapshot(model)

    def snapshot(self, model: nn.Module) -> None:
        """Keep the model's state (parameters and buffers) to rewind to."""
        self.rewind = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}

    @torch.no_grad()
    def prune(self, sparsity: float) -> dict[str, torch.Tensor]:
        """Masks at ``sparsity`` keeping the largest ``|w|`` among the weights left."""
        scores = {n: w.abs() if n not in self.masks else torch.where(self.masks[n], w.abs(), -1.0)
                  for n, w in self.weights.items()}
        return sparsity_masks(scores, sparsity, scope=self.options.scope)

    @torch.no_grad()
    def next_round(self, round: int, model: nn.Module) -> None:
        """Prune the trained weights to round ``round``'s sparsity, rewind the rest."""
        masks = self.prune(self.sparsities[round - 1])
        model.load_state_dict(self.rewind)
        self.round = round
        self.set_masks(masks, None, 0)

    def extra_state(self) -> dict[str, Any]:
        return {"round": self.round}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        self.round = int(state.get("round", 1))

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "rewind": dict(self.rewind)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.rewind = {k: v.cpu() for k, v in state.get("rewind", {}).items()}
