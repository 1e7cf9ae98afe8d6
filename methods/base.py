"""The method plugin protocol and the mask mechanics every method shares.

A backend drives a :class:`Method` through a fixed cycle per optimizer step (one step's
part is ``backends.cycle.method_step``, which every trainer and the method tests call)::

    method.setup(model, first_batch, loss_fn)          # once, before training
    method.before_forward(model)
    loss = loss_fn(model(x), y); loss.backward()
    method.before_optimizer_step(model, optimizer)     # calls on_gradients() first
    optimizer.step()
    method.after_optimizer_step(step, model, optimizer)  # calls on_step()
    ...
    method.on_epoch_end(epoch, model, optimizer)
    method.finalize(model)                               # the stored model is m * w

A method of several rounds (:meth:`Method.rounds`, lottery tickets) has the backend run
that many whole trainings of the recipe: after each round but the last the backend
calls ``method.next_round(round, model)`` (where the method prunes and rewinds), then
trains round ``round`` from its first step with a fresh optimizer, so the learning-rate
schedule, warm-up and optimizer state restart; the step numbers the hooks hear restart
too. ``setup`` is called once, before the first round.

Plugins override only what decides masks: ``setup`` (initial masks), ``on_step`` and
``on_epoch_end`` (when and how masks change), ``prunable`` (which weights), and install
new masks with :meth:`Method.set_masks`. ``on_gradients`` sees each step's gradients
before hard masks zero those of pruned weights (RigL grows where they are largest).
How masks act is the ``mask_mode`` (:mod:`methods.mask_modes`): ``NONE`` (dense),
``HARD`` (pruned weights are zero and get no update) or ``FEEDBACK`` (DPF: forward and
backward see ``w * m``, the update goes to the dense ``w``). What else differs between
methods is declared by class flags (``masks_gradients``, ``zero_pruned_momentum``,
``reads_gradients``), not by overriding the mechanics: a backend that cannot call the
hooks where one device does (DeepSpeed's ZeRO) reads the flags to do the same.

Methods never touch torch.distributed: randomness comes from :meth:`Method.generator`
seeded by (seed, step), so every rank draws the same masks.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, ClassVar

import torch
from torch import nn

from methods.mask_modes import HARD, MaskMode, as_mask_mode
from suite.options import NoOptions
from suite.recipes import TrainRecipe
from suite.registry import Registry, subclass_check


@dataclass(frozen=True)
class MethodContext:
    """What a method knows of its run: target, length, seed and recipe."""

    sparsity: float
    total_steps: int
    steps_per_epoch: int
    seed: int
    recipe: TrainRecipe


def default_prunable(model: nn.Module) -> dict[str, nn.Parameter]:
    """Weights of conv and linear layers; biases and normalization layers are never pruned."""
    out: dict[str, nn.Parameter] = {}
    for mod_name, module in model.named_modules():
        if isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)):
            out[f"{mod_name}.weight" if mod_name else "weight"] = module.weight
    return out


class Method:
    """Base class of pruning methods (see the module docstring for the cycle)."""

    name: ClassVar[str] = "base"
    #: The name tables and figures print (``DPF``); ``[report.labels]`` overrides it.
    label: ClassVar[str] = ""
    #: Bump when a change alters results, so cell ids (and stored results) change too.
    version: ClassVar[int] = 1
    #: Options class filled from the spec's ``[method.<name>]`` table.
    Options: ClassVar[type] = NoOptions
    #: False for methods that ignore the sparsity axis (dense): one cell per model x dataset.
    uses_sparsity: ClassVar[bool] = True
    #: How masks act (:mod:`methods.mask_modes`); a subclass may give the mode's name.
    mask_mode: ClassVar[MaskMode] = HARD
    #: True when masks change during training; flip ratios are then recorded.
    moves_mask: ClassVar[bool] = False
    #: Hard mode: whether installing masks also zeroes the momentum where they are off.
    #: Sparse momentum keeps it (its gradients stay dense: the momentum of missing
    #: weights is what it regrows by).
    zero_pruned_momentum: ClassVar[bool] = True
    #: Hard mode: whether :meth:`before_optimizer_step` zeroes the gradients of pruned
    #: weights; False for a method that needs the dense gradients (sparse momentum: the
    #: momentum of missing weights is what it regrows by). Gradient clipping then
    #: measures the masked gradients, and a backend that cannot mask them before the
    #: step (ZeRO reduces them into partitions first) masks the optimizer's state after
    #: it where they are masked: it must know (:meth:`zeroes_pruned_gradients`).
    masks_gradients: ClassVar[bool] = True
    #: Whether :meth:`on_gradients` reads the dense gradients (RigL grows by them): a
    #: backend must hand it the gradient of the whole batch, averaged over its ranks.
    reads_gradients: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.mask_mode = as_mask_mode(cls.mask_mode)  # a mode's name stands for the mode

    @classmethod
    def rounds(cls, options: Any, sparsity: float) -> int:
        """How many trainings of the recipe a run with ``options`` at target ``sparsity``
        is (1 for every single-training method, the default); the runner, the resume
        logic, the cost estimate and the progress bar count them."""
        return 1

    @classmethod
    def zeroes_pruned_gradients(cls) -> bool:
        """Whether the gradients of pruned weights are zeroed before each step."""
        return cls.mask_mode.masks_gradients and cls.masks_gradients

    def __init__(self, options: Any, ctx: MethodContext) -> None:
        self.options = options
        self.ctx = ctx
        self.masks: dict[str, torch.Tensor] = {}
        self.flips: list[dict[str, float]] = []
        self._params: dict[str, nn.Parameter] = {}
        self._dense: dict[str, torch.Tensor] = {}
        #: Optimizer steps finished (the ``step`` of the last :meth:`after_optimizer_step`).
        self.steps_done = 0

    # ----- what plugins override -------------------------------------------------------
    def prunable(self, model: nn.Module) -> dict[str, nn.Parameter]:
        """The parameters this method may prune, by name (default: conv and linear weights)."""
        return default_prunable(model)

    def setup(self, model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor], loss_fn: Any) -> None:
        """Install initial masks before the first step (SNIP scores ``batch`` here)."""

    def on_step(self, step: int, model: nn.Module, optimizer: torch.optim.Optimizer) -> None:
        """Called after optimizer step number ``step`` (1-based count of finished steps)."""

    def on_epoch_end(self, epoch: int, model: nn.Module, optimizer: torch.optim.Optimizer) -> None:
        """Called after epoch ``epoch`` (0-based) finished."""

    def on_gradients(self, step: int, model: nn.Module) -> None:
        """Called in step ``step`` (1-based) after the backward pass, before the optimizer
        step and before hard masks zero the gradients of pruned weights: the prunable
        weights' ``.grad`` are still the dense gradients of the loss at ``w * m``.
        Copy what is needed: the gradients are masked right after."""

    def next_round(self, round: int, model: nn.Module) -> None:
        """Called before round ``round`` (2 .. :meth:`rounds`) starts, after the previous
        one's last epoch: install its masks, rewind weights. The backend then makes a
        fresh optimizer, so optimizer state need not be touched."""

    def extra_state(self) -> dict[str, Any]:
        """Method-specific state beyond masks and flips, for checkpoints."""
        return {}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`extra_state` returned."""

    # ----- helpers for plugins ---------------------------------------------------------
    def generator(self, step: int) -> torch.Generator:
        """A CPU generator determined by (seed, step): the same on every rank."""
        return torch.Generator().manual_seed(self.ctx.seed * 1_000_003 + step * 7919 + 17)

    def bind(self, model: nn.Module) -> dict[str, nn.Parameter]:
        """Remember (and return) the prunable parameters of ``model``."""
        self._params = self.prunable(model)
        return self._params

    @property
    def params(self) -> MappingProxyType[str, nn.Parameter]:
        """The prunable parameters :meth:`bind` found, by name (read-only)."""
        return MappingProxyType(self._params)

    def set_masks(self, masks: dict[str, torch.Tensor], optimizer: torch.optim.Optimizer | None,
                  step: int) -> None:
        """Install boolean ``masks`` (True = kept), record the flip ratio, apply them."""
        masks = {k: m.to(dtype=torch.bool) for k, m in masks.items()}
        if self.masks and self.moves_mask:
            changed = sum(int(torch.count_nonzero(masks[k] ^ self.masks[k])) for k in masks)
            total = sum(m.numel() for m in masks.values())
            self.flips.append({"step": step, "flip_ratio": changed / max(total, 1)})
        self.masks = masks
        self.mask_mode.install(self.masks, self._params, optimizer, self.zero_pruned_momentum)

    # ----- mechanics called by backends ------------------------------------------------
    def before_forward(self, model: nn.Module) -> None:
        """Feedback mode: the forward/backward pass sees ``w * m`` (dense ``w`` stashed)."""
        if self.masks:
            self.mask_mode.before_forward(self.masks, self._params, self._dense)

    def before_optimizer_step(self, model: nn.Module, optimizer: torch.optim.Optimizer) -> None:
        """Let :meth:`on_gradients` see the dense gradients; then feedback: restore dense
        ``w`` (its gradient passes straight through); hard: zero the gradient of pruned
        weights (unless ``masks_gradients`` is False)."""
        self.on_gradients(self.steps_done + 1, model)
        if self.masks:
            self.mask_mode.before_step(self.masks, self._params, self._dense, self.masks_gradients)

    def after_optimizer_step(self, step: int, model: nn.Module,
                             optimizer: torch.optim.Optimizer) -> None:
        """Re-apply hard masks, then let the plugin react to step ``step`` (1-based)."""
        self.steps_done = step
        if self.masks:
            self.mask_mode.after_step(self.masks, self._params)
        self.on_step(step, model, optimizer)

    @contextmanager
    def masked(self, model: nn.Module):
        """Within this block the model computes with ``w * m`` (for evaluation)."""
        self.before_forward(model)
        try:
            yield model
        finally:
            self.mask_mode.restore(self._params, self._dense)

    @torch.no_grad()
    def finalize(self, model: nn.Module) -> None:
        """Make the model's weights the sparse ``w * m`` for good (what is stored and measured)."""
        for name, mask in self.masks.items():
            self._params[name].mul_(mask)

    def state_dict(self) -> dict[str, Any]:
        """Masks, flip history, steps done and extra state, for checkpoints."""
        return {"masks": {k: v.cpu() for k, v in self.masks.items()},
                "flips": list(self.flips), "steps_done": self.steps_done, "extra": self.extra_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` (call after :meth:`bind`)."""
        self.masks = {k: v.to(self._params[k].device).bool() for k, v in state["masks"].items()}
        self.flips = list(state["flips"])
        self.steps_done = int(state.get("steps_done", 0))  # checkpoints before it was kept: 0
        self.load_extra_state(state.get("extra", {}))


METHODS: Registry[type[Method]] = Registry("method", check=subclass_check(Method))
