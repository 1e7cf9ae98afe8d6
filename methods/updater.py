"""The one base updater every pruning method builds on: it owns the update cycle.

:class:`MaskUpdater` turns the backend's hooks into three questions a subclass answers:
*which* weights are prunable (:class:`LayerOptions`), *when* masks change
(:meth:`MaskUpdater.due`, usually from :mod:`methods.schedules`) and *what* the new
masks are (:meth:`MaskUpdater.update`, usually from :mod:`methods.masks` and
:mod:`methods.distributions`). Magnitude pruning (:mod:`methods.magnitude`) and
drop-and-grow sparse training (:mod:`methods.dropgrow`) are its two families.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from methods.base import Method, default_prunable
from suite.errors import SuiteError

CONV = (nn.Conv1d, nn.Conv2d, nn.Conv3d)


#: Module names that mark a residual block's projection path (CIFAR ResNets with
#: ``shortcut = "B"`` and WideResNets: ``shortcut``; torchvision's ResNets: ``downsample``).
SHORTCUT_NAMES = frozenset({"shortcut", "downsample"})


@dataclass(frozen=True)
class LayerOptions:
    """Which weights a method prunes: those of conv and linear layers (never biases or
    normalization layers), minus the first conv (``exclude_first_conv``), the last
    linear layer, the classifier (``exclude_last_linear``), and the convs of residual
    shortcuts (``exclude_shortcuts``: modules under a ``shortcut`` or ``downsample``),
    when asked."""

    exclude_first_conv: bool = False
    exclude_last_linear: bool = False
    exclude_shortcuts: bool = False


def is_shortcut(module_name: str) -> bool:
    """Whether ``module_name`` lies on a residual shortcut (a component in SHORTCUT_NAMES)."""
    return any(part in SHORTCUT_NAMES for part in module_name.split("."))


def prunable_layers(model: nn.Module, *, exclude_first_conv: bool = False,
                    exclude_last_linear: bool = False,
                    exclude_shortcuts: bool = False) -> dict[str, nn.Parameter]:
    """Conv and linear weights of ``model`` by name, in module order, minus the first
    conv, the last linear layer (if the model has one) and/or the shortcut convs."""
    params = default_prunable(model)
    convs = [n for n, m in model.named_modules() if isinstance(m, CONV)]
    linears = [n for n, m in model.named_modules() if isinstance(m, nn.Linear)]
    drop = set()
    if exclude_first_conv and convs:
        drop.add(convs[0])
    if exclude_last_linear and linears:
        drop.add(linears[-1])
    if exclude_shortcuts:
        drop.update(n for n in convs if is_shortcut(n))
    drop_keys = {f"{n}.weight" if n else "weight" for n in drop}
    return {k: p for k, p in params.items() if k not in drop_keys}


class MaskUpdater(Method):
    """Base of the pruning methods: ``setup`` installs :meth:`initial_masks`; after every
    optimizer step, :meth:`update` runs when :meth:`due` says so."""

    def prunable(self, model: nn.Module) -> dict[str, nn.Parameter]:
        o = self.options
        params = prunable_layers(model, exclude_first_conv=o.exclude_first_conv,
                                 exclude_last_linear=self.excludes_classifier(model),
                                 exclude_shortcuts=o.exclude_shortcuts)
        if not params:
            raise SuiteError(f"method {self.name!r} finds no prunable weights in this model "
                             "after its exclusions; set exclude_first_conv / exclude_last_linear "
                             "/ exclude_shortcuts to false")
        return params

    def excludes_classifier(self, model: nn.Module) -> bool:
        """Whether the last linear layer of ``model`` stays dense (``exclude_last_linear``)."""
        return bool(self.options.exclude_last_linear)

    @property
    def weights(self) -> dict[str, torch.Tensor]:
        """The bound prunable weights (detached views; in feedback mode the dense ones)."""
        return {n: p.detach() for n, p in self._params.items()}

    def setup(self, model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor], loss_fn: Any) -> None:
        self.bind(model)
        masks = self.initial_masks(model, batch, loss_fn)
        if masks:
            self.set_masks(masks, None, 0)

    def initial_masks(self, model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor],
                      loss_fn: Any) -> dict[str, torch.Tensor]:
        """Masks before the first step (none by default: training starts dense)."""
        return {}

    def on_step(self, step: int, model: nn.Module, optimizer: torch.optim.Optimizer) -> None:
        if self.due(step):
            self.update(step, optimizer)

    def due(self, step: int) -> bool:
        """Whether masks change after step ``step`` (1-based)."""
        return False

    def update(self, step: int, optimizer: torch.optim.Optimizer) -> None:
        """Compute and install new masks (with :meth:`set_masks`)."""
        raise NotImplementedError
