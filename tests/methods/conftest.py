"""Toy problems for the method tests: a context, a small model, batches, and a loop that
drives a method through the backends' own step cycle (:func:`backends.cycle.method_step`,
which the trainers call too) and their epoch ends."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from backends.cycle import method_step
from methods import Method, MethodContext, create_method
from suite.data import create_dataset
from suite.models import create_model
from suite.models.small import MLPOptions, SmallCNNOptions
from suite.recipes import TrainRecipe


@dataclass
class Toy:
    """Factories for one toy problem: the synthetic dataset, an MLP or a small CNN."""

    x: torch.Tensor
    y: torch.Tensor
    info: object

    def ctx(self, sparsity: float = 0.8, total_steps: int = 64, steps_per_epoch: int = 16,
            seed: int = 0, milestones: tuple[float, ...] = (0.5, 0.75)) -> MethodContext:
        recipe = TrainRecipe(epochs=max(1, total_steps // steps_per_epoch), milestones=milestones)
        return MethodContext(sparsity, total_steps, steps_per_epoch, seed, recipe)

    def model(self, kind: str = "mlp", seed: int = 0) -> nn.Module:
        torch.manual_seed(seed)
        options = MLPOptions((32, 16)) if kind == "mlp" else SmallCNNOptions((8, 16))
        return create_model(kind, self.info, options)

    def method(self, name: str, ctx: MethodContext, **options) -> Method:
        from methods import METHODS

        cls = METHODS.get(name)
        return create_method(name, cls.Options(**options), ctx)

    def install(self, method: Method, model: nn.Module, weights: list[list[float]],
                grads: list[list[float]] | None = None, *, masks: bool = True):
        """Give the prunable layers of ``model`` these weights (and gradients), an SGD
        optimizer whose momentum is all ones and, with ``masks``, the masks of the nonzero
        weights (else the method's setup makes them); returns (the method's parameters by
        name, the optimizer)."""
        params = method.bind(model)
        opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        for i, p in enumerate(params.values()):
            with torch.no_grad():
                p.copy_(torch.tensor(weights[i]).view_as(p))
            if grads is not None:
                p.grad = torch.tensor(grads[i]).view_as(p)
            opt.state[p]["momentum_buffer"] = torch.ones_like(p)
        if masks:
            method.masks = {n: p.detach() != 0 for n, p in params.items()}
        return params, opt

    def batch(self, step: int, size: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
        i = (step * size) % (len(self.y) - size + 1)
        return self.x[i:i + size], self.y[i:i + size]

    def train(self, method: Method, model: nn.Module, steps: int, *, start: int = 0,
              optimizer: torch.optim.Optimizer | None = None, lr: float = 0.05,
              after: Callable[[int], None] | None = None) -> torch.optim.Optimizer:
        """Run steps ``start+1 .. start+steps`` of the backend's cycle (setup when start=0)."""
        if optimizer is None:
            optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, nesterov=True,
                                        weight_decay=1e-4)
        method.bind(model)
        if start == 0:
            method.setup(model, self.batch(0), F.cross_entropy)
        model.train()
        for step in range(start, start + steps):
            x, y = self.batch(step)

            def forward_backward(x=x, y=y) -> torch.Tensor:
                loss = F.cross_entropy(model(x), y)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                return loss

            method_step(method, model, optimizer, step, [forward_backward], lambda last: optimizer.step())
            if (step + 1) % method.ctx.steps_per_epoch == 0:  # the trainer's epoch end
                method.on_epoch_end((step + 1) // method.ctx.steps_per_epoch - 1, model, optimizer)
            if after is not None:
                after(step + 1)
        return optimizer


@pytest.fixture(autouse=True)
def one_thread():
    """The toy problems are far too small to gain from threads (and they only fight a busy
    machine's other work), so these tests run on one."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def toy() -> Toy:
    dataset = create_dataset("synthetic")
    split = dataset.load("train")
    info = dataset.info()
    x = (split.images.float() / 255 - 0.5) / 0.25
    return Toy(x, split.labels, info)
