"""Which weights are prunable, and the base updater's cycle."""

from __future__ import annotations

import pytest
from torch import nn

from methods.updater import prunable_layers
from suite.errors import SuiteError


def cnn() -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Conv2d(4, 4, 3), nn.Flatten(),
                         nn.Linear(4, 8), nn.Linear(8, 2))


def test_prunable_layers_and_exclusions():
    model = cnn()
    assert list(prunable_layers(model)) == ["0.weight", "2.weight", "4.weight", "5.weight"]
    assert list(prunable_layers(model, exclude_first_conv=True)) == ["2.weight", "4.weight", "5.weight"]
    assert list(prunable_layers(model, exclude_first_conv=True, exclude_last_linear=True)) == [
        "2.weight", "4.weight"]
    mlp = nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 2))  # no conv: nothing to exclude there
    assert list(prunable_layers(mlp, exclude_first_conv=True)) == ["0.weight", "1.weight"]


class Block(nn.Module):
    """A residual block's layers: two convs and a projection under ``shortcut``."""

    def __init__(self, name: str = "shortcut") -> None:
        super().__init__()
        self.conv1, self.conv2 = nn.Conv2d(4, 8, 3), nn.Conv2d(8, 8, 3)
        self.add_module(name, nn.Sequential(nn.Conv2d(4, 8, 1), nn.BatchNorm2d(8)))


def test_shortcut_convs_can_be_excluded():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), Block(), Block("downsample"), nn.Linear(8, 2))
    assert len(prunable_layers(model)) == 8
    assert list(prunable_layers(model, exclude_shortcuts=True)) == [
        "0.weight", "1.conv1.weight", "1.conv2.weight", "2.conv1.weight", "2.conv2.weight", "3.weight"]


def test_nothing_left_to_prune_is_a_clear_error(toy):
    dsr = toy.method("dsr", toy.ctx(), exclude_last_linear=True)
    with pytest.raises(SuiteError, match="exclude_last_linear"):
        dsr.bind(nn.Sequential(nn.Flatten(), nn.Linear(64, 10)))
