"""One optimizer step's hook sequence, the cycle of :mod:`methods.base`, in one place.

Every trainer (:class:`backends.training.Trainer` and the DeepSpeed trainer) and the
method tests' toy loop run a step through :func:`method_step`, so the order in which a
method hears of a step cannot differ between them. What differs is passed in: how a
pass computes its loss and gradients, and how the optimizer updates.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from methods import Method


def method_step(method: Method, model: nn.Module, optimizer: torch.optim.Optimizer, step: int,
                passes: Sequence[Callable[[], torch.Tensor]], update: Callable[[bool], None], *,
                failed: Callable[[torch.Tensor], None] | None = None) -> torch.Tensor:
    """Optimizer step ``step`` (0-based: the method hears ``step + 1`` steps finished).

    ``passes`` holds one callable per pass over a part of the step's batch (a single one
    on one device; one per micro-batch when gradients accumulate); each zeroes or
    accumulates the gradients, runs the forward and backward pass and returns its loss.
    Each pass runs between :meth:`~Method.before_forward` and
    :meth:`~Method.before_optimizer_step` and is followed by ``update(last)``, the
    optimizer's update (``last``: after the step's last pass); then
    :meth:`~Method.after_optimizer_step`. When that raises, ``failed`` (if given) sees
    the loss first: a loss that is no longer finite explains a failing mask update.
    Returns the sum of the passes' losses, detached.
    """
    total: torch.Tensor | None = None
    for i, run in enumerate(passes):
        method.before_forward(model)
        loss = run().detach()
        total = loss if total is None else total + loss
        method.before_optimizer_step(model, optimizer)
        update(i == len(passes) - 1)
    if total is None:
        raise ValueError("a step needs at least one pass")
    try:
        method.after_optimizer_step(step + 1, model, optimizer)
    except Exception:
        if failed is not None:
            failed(total)
        raise
    return total

