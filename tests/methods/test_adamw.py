"""Every method with ``optimizer = "adamw"``, through the real training loop: it reaches
its target sparsity, and the AdamW state follows the masks as SGD's momentum does (hard
masks clear both moments where they are off, sparse momentum keeps them and regrows by
the first moment, DPF's dense weights keep theirs)."""

from __future__ import annotations

import pytest
import torch
from test_contract import SHORT_RUN_OPTIONS, fit

from methods import METHODS
from methods.mask_modes import HARD, NONE
from methods.measure import OFF_TARGET_TOLERANCE
from methods.sm import momentum_of
from suite.data import create_dataset
from suite.grid import expand
from suite.models import create_model
from suite.spec import parse_spec

SPEC = """
[suite]
seeds = [0]
[grid]
method = ["{method}"]
model = ["mlp"]
dataset = ["synthetic"]
sparsity = [0.8]
[train]
epochs = 3
batch_size = 32
lr = 0.005
weight_decay = 0.01
optimizer = "adamw"
[model.mlp]
hidden = [48, 24]
[dataset.synthetic]
train_size = 512
test_size = 64
"""


def adamw_cell(method: str):
    options = SHORT_RUN_OPTIONS.get(method)
    (cell,) = expand(parse_spec(SPEC.format(method=method)
                                + (f"[method.{method}]\n{options}\n" if options else "")))
    return cell


def parameter_names(cell) -> list[str]:
    """The model's parameter names in the order the optimizer state numbers them."""
    info = create_dataset(cell.dataset, cell.dataset_options).info()
    return [n for n, _ in create_model(cell.model, info, cell.model_options).named_parameters()]


@pytest.mark.parametrize("name", METHODS.names())
def test_every_method_trains_with_adamw(name, tmp_path):
    cls, cell = METHODS.get(name), adamw_cell(name)
    record = fit(cell, tmp_path)
    s = record["sparsity"]
    assert abs(s["overall"] - s["target"]) <= OFF_TARGET_TOLERANCE, s
    assert record["metrics"]["top1"] > 20  # it learned (10 classes)
    state = torch.load(tmp_path / "checkpoint.pt", weights_only=False)
    masks, moments = state["method"]["masks"], state["optimizer"]["state"]
    names = parameter_names(cell)
    for layer, mask in masks.items():
        entry = moments[names.index(layer)]
        cleared = bool((entry["exp_avg"][~mask] == 0).all() and (entry["exp_avg_sq"][~mask] == 0).all())
        assert cleared == (cls.mask_mode is HARD and cls.zero_pruned_momentum), layer
    assert bool(masks) == (cls.mask_mode is not NONE)


def test_sparse_momentum_reads_adamws_first_moment():
    p = torch.nn.Parameter(torch.zeros(3))
    opt = torch.optim.AdamW([p], lr=0.1)
    p.grad = torch.tensor([1.0, -2.0, 0.5])
    opt.step()
    torch.testing.assert_close(momentum_of(p, opt), torch.tensor([0.1, -0.2, 0.05]))  # (1 - 0.9) g
    sgd = torch.optim.SGD([p], lr=0.1, momentum=0.9)
    sgd.step()
    torch.testing.assert_close(momentum_of(p, sgd), p.grad)  # SGD's first buffer is the gradient
