"""DSR: adaptive global threshold (halve / double), random regrowth by non-zeros, never
where it just pruned, no layer emptied, and the reference's dense layers; by hand."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torchvision.models import resnet18

from methods.dsr import adjust_threshold, threshold_masks
from suite.data.info import DatasetInfo
from suite.models import create_model
from suite.models.resnet_cifar import ResNetCifarOptions

T, F = True, False


@pytest.mark.parametrize(("pruned", "expected"), [
    (50, 0.02),    # too few (< 0.9 * 100): double
    (89, 0.02),
    (90, 0.01),    # within tolerance: keep
    (110, 0.01),
    (111, 0.005),  # too many (> 1.1 * 100): halve
])
def test_threshold_halving_and_doubling(pruned, expected):
    assert adjust_threshold(0.01, pruned, 100, 0.1) == pytest.approx(expected)


def two_layers(a: list[float], b: list[float]) -> nn.Module:
    model = nn.Sequential(nn.Linear(len(a), 1, bias=False), nn.Linear(len(b), 1, bias=False))
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor([a]))
        model[1].weight.copy_(torch.tensor([b]))
    return model


def rewire(toy, model, **options):
    """One DSR update of ``model`` whose zero weights are the inactive ones."""
    options = {"exclude_first_conv": False, "exclude_last_linear": False,
               "initial_threshold": 0.5, **options}
    dsr = toy.method("dsr", toy.ctx(sparsity=0.5, total_steps=100), **options)
    params = dsr.bind(model)
    dsr.masks = {n: p.detach() != 0 for n, p in params.items()}
    dsr.update(10, torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9))
    return dsr, params


def test_rewire_by_hand(toy):
    model = nn.Sequential(nn.Linear(5, 2, bias=False), nn.Linear(2, 5, bias=False))  # 10 + 10
    dsr = toy.method("dsr", toy.ctx(sparsity=0.5, total_steps=100), exclude_first_conv=False,
                     exclude_last_linear=False, initial_threshold=0.5, prune_fraction=0.5)
    params = dsr.bind(model)
    a, b = params["0.weight"], params["1.weight"]
    with torch.no_grad():
        a.copy_(torch.tensor([0.1, -0.2, 0.6, 0.7, -0.8, 0.9, 0, 0, 0, 0]).view(2, 5))
        b.copy_(torch.tensor([0.3, 1.0, -1.1, 1.2, 0, 0, 0, 0, 0, 0]).view(5, 2))
    before = {"0.weight": a.detach() != 0, "1.weight": b.detach() != 0}
    dsr.masks = dict(before)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    dsr.update(10, opt)
    # |w| < 0.5 pruned: 0.1, 0.2 in a and 0.3 in b -> K = 3 < 0.9 * N_p (N_p = 0.5 * 10)
    assert dsr.threshold == 1.0
    # regrow 3 in proportion to non-zeros after pruning, 4 : 3 -> 1.71, 1.29 -> 2, 1
    grown = {n: dsr.masks[n] & ~(before[n] & (params[n].detach().abs() >= 0.5)) for n in before}
    assert int(grown["0.weight"].sum()) == 2 and int(grown["1.weight"].sum()) == 1
    assert all(not (grown[n] & before[n]).any() for n in before)  # never where it just pruned
    assert all(not params[n].detach()[g].any() for n, g in grown.items())  # start at zero
    assert sum(int(m.sum()) for m in dsr.masks.values()) == 10
    # next period: everything active is below 1.0 except b's 1.0, 1.1, 1.2 -> too many: halve
    dsr.update(20, opt)
    assert dsr.threshold == 0.5
    assert sum(int(m.sum()) for m in dsr.masks.values()) == 10


def test_regrowth_avoids_the_positions_it_just_pruned(toy):
    # Each layer drops its position 0 (|w| < 0.5); of its free positions 0 and 5 only 5
    # may be grown, and 1 : 1 by non-zeros gives each layer one weight.
    dsr, _ = rewire(toy, two_layers([0.1, 0.9, 0.8, 0.7, 0.6, 0.0], [-0.2, 0.9, 0.8, 0.7, 0.6, 0.0]))
    assert dsr.masks["0.weight"].tolist() == [[F, T, T, T, T, T]]
    assert dsr.masks["1.weight"].tolist() == [[F, T, T, T, T, T]]


def test_pruned_positions_are_regrown_only_when_nothing_else_is_free(toy):
    # Two are dropped (a's and b's position 0) but only a's position 3 is free besides:
    # it is grown, and the other weight goes by non-zeros (2 : 3) to b, where only the
    # position just pruned is left.
    dsr, _ = rewire(toy, two_layers([0.1, 0.9, 0.8, 0.0], [0.2, 0.9, 0.8, 0.7]))
    assert dsr.masks["0.weight"].tolist() == [[F, T, T, T]]
    assert dsr.masks["1.weight"].tolist() == [[T, T, T, T]]


def test_no_layer_is_emptied_and_the_kept_weight_counts_as_not_pruned(toy):
    masks = {"a": torch.tensor([F, T, T, F, T, F]), "b": torch.tensor([T, T, F, F])}
    weights = {"a": torch.tensor([0.0, 0.1, -0.2, 0.0, 0.3, 0.0]), "b": torch.tensor([0.9, 0.2, 0.0, 0.0])}
    kept = threshold_masks(masks, weights, 0.5)
    assert kept["a"].tolist() == [F, T, F, F, F, F]  # all below H: the first active stays
    assert kept["b"].tolist() == [T, F, F, F]
    # a full update: 7 active, N_p = round(0.3 * 7) = 2; pruned 2 (not 3: a keeps one), so
    # H stays; 2 regrown by non-zeros 1 : 4 -> 0.4, 1.6 -> 0, 2, at b's only fresh slots
    dsr, _ = rewire(toy, two_layers([0.0, 0.1, -0.2, 0.0, 0.3, 0.0], [0.9, 0.8, 0.7, 0.6, 0.0, 0.0]),
                    prune_fraction=0.3)
    assert dsr.threshold == 0.5
    assert dsr.masks["0.weight"].tolist() == [[F, T, F, F, F, F]]
    assert dsr.masks["1.weight"].tolist() == [[T, T, T, T, T, T]]


CIFAR = DatasetInfo(num_classes=10, image_shape=(3, 32, 32), mean=(0.5,) * 3, std=(0.25,) * 3)


def prunable(toy, model, **options) -> list[str]:
    return list(toy.method("dsr", toy.ctx(), **options).prunable(model))


def test_dense_layers_are_the_references(toy):
    # CIFAR ResNet-20 with projection shortcuts: the first conv, the two 1x1 shortcut
    # convs and the classifier stay dense; the 18 3x3 convs of the blocks are sparse.
    r20 = create_model("resnet20", CIFAR, ResNetCifarOptions(shortcut="B"))
    names = prunable(toy, r20)
    assert len(names) == 18 and all(".conv" in n for n in names)
    assert prunable(toy, r20, exclude_shortcuts=False, exclude_first_conv=False,
                    exclude_last_linear=False) == list(
        n for n, p in r20.named_parameters() if p.dim() > 1)
    # the WideResNet's shortcuts are 1x1 convs on the pre-activated input: dense as well
    wrn = create_model("wrn28_2", CIFAR)
    assert not any("shortcut" in n or n in ("conv1.weight", "fc.weight") for n in prunable(toy, wrn))
    # torchvision's ResNets (the reference's ResNet-50): downsample convs dense, fc sparse
    tv = prunable(toy, resnet18(num_classes=10))
    assert tv[-1] == "fc.weight" and "conv1.weight" not in tv and not any("downsample" in n for n in tv)
    assert "fc.weight" not in prunable(toy, resnet18(num_classes=10), exclude_last_linear=True)
    # no convolution (the reference's MLP): every layer is sparse
    mlp = nn.Sequential(nn.Linear(8, 4), nn.ReLU(), nn.Linear(4, 2))
    assert prunable(toy, mlp) == ["0.weight", "2.weight"]


def test_defaults_keep_first_conv_and_classifier_dense_and_hit_the_target(toy):
    ctx = toy.ctx(sparsity=0.9, total_steps=48)
    model = toy.model("small_cnn")
    dsr = toy.method("dsr", ctx, rewire_every=8)
    toy.train(dsr, model, 48)
    assert list(dsr.masks) == ["3.weight"]  # conv 0 and linear 8 are not DSR's to prune
    assert (model[0].weight != 0).all() and (model[8].weight != 0).all()
    w = model[3].weight
    assert (w == 0).float().mean().item() == pytest.approx(0.9, abs=1 / w.numel())
    assert [f["step"] for f in dsr.flips] == [8, 16, 24, 32, 40]  # none within the last period
    state = dsr.state_dict()
    fresh = toy.method("dsr", ctx, rewire_every=8)
    fresh.bind(model)
    fresh.load_state_dict(state)
    assert fresh.threshold == dsr.threshold
