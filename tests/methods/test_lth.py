"""LTH: the rounds arithmetic and the prune-and-rewind rule, on hand-computed tensors."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from methods import METHODS, MethodContext, create_method
from methods.lth import LTHOptions, pruning_count, round_sparsities
from suite.errors import SuiteError
from suite.recipes import TrainRecipe


def test_rounds_follow_the_target_and_the_fraction_pruned_per_round():
    lth = METHODS.get("lth")
    assert pruning_count(0.9, 0.2) == 11 and lth.rounds(LTHOptions(), 0.9) == 12  # 0.8^11 = 0.086
    assert round_sparsities(0.5, 0.2) == pytest.approx([0.0, 0.2, 0.36, 0.488, 0.5])
    assert round_sparsities(0.36, 0.2) == pytest.approx([0.0, 0.2, 0.36])  # 0.8^2 meets 64% exactly
    assert round_sparsities(0.36, 0.2)[-1] == 0.36  # the last round is the target itself
    assert round_sparsities(0.75, 0.2, rounds=3) == pytest.approx([0.0, 0.5, 0.75])
    assert lth.rounds(LTHOptions(rounds=3), 0.75) == 3
    assert round_sparsities(0.0, 0.2) == [0.0] and lth.rounds(LTHOptions(), 0.0) == 1
    assert METHODS.get("dense").rounds(None, 0.0) == 1 and METHODS.get("dpf").rounds(None, 0.9) == 1


def test_options_are_checked():
    assert "prune_fraction = 1.0" in LTHOptions(prune_fraction=1.0).validate()
    assert "rounds = 1 must be at least 2" in LTHOptions(rounds=1).validate()
    assert "rewind_step = -1" in LTHOptions(rewind_step=-1).validate()
    with pytest.raises(SuiteError, match="rewind_step = 9 lies beyond the 8 steps"):
        make(rewind_step=9)


class Two(nn.Module):
    """Two linear layers of four and two weights."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(2, 2, bias=False)
        self.b = nn.Linear(2, 1)

    def forward(self, x):
        return self.b(self.a(x))


def put(model: Two, a, b, bias) -> None:
    with torch.no_grad():
        model.a.weight.copy_(torch.tensor(a))
        model.b.weight.copy_(torch.tensor(b))
        model.b.bias.copy_(torch.tensor(bias))


def make(sparsity: float = 0.75, **options):
    ctx = MethodContext(sparsity, 8, 4, 0, TrainRecipe(epochs=2))
    return create_method("lth", LTHOptions(**options), ctx)


def test_prunes_the_smallest_survivors_globally_and_rewinds_the_rest():
    model, lth = Two(), make(prune_fraction=0.5)  # 75% at 50% per round: rounds at 0, 0.5, 0.75
    assert lth.sparsities == [0.0, 0.5, 0.75]
    put(model, [[1.0, 2.0], [3.0, 4.0]], [[5.0, 6.0]], [0.5])
    lth.setup(model, None, None)  # rewind_step 0: the initialization is kept
    assert not lth.masks
    put(model, [[0.1, -0.9], [0.5, 0.3]], [[-0.7, 0.2]], [9.0])  # what round 1 trained
    lth.next_round(2, model)  # keep 3 of 6 by |w|: 0.9, 0.7, 0.5
    assert lth.masks["a.weight"].tolist() == [[False, True], [True, False]]
    assert lth.masks["b.weight"].tolist() == [[True, False]]
    assert model.a.weight.tolist() == [[0.0, 2.0], [3.0, 0.0]]  # survivors at their initial values
    assert model.b.weight.tolist() == [[5.0, 0.0]] and model.b.bias.tolist() == [0.5]  # bias rewound too
    put(model, [[0.0, 0.4], [-0.8, 0.0]], [[0.6, 0.0]], [7.0])  # what round 2 trained
    lth.next_round(3, model)  # keep round(1.5) = 2 of 6 among the survivors: 0.8, 0.6
    assert lth.masks["a.weight"].tolist() == [[False, False], [True, False]]
    assert lth.masks["b.weight"].tolist() == [[True, False]]
    assert model.a.weight.tolist() == [[0.0, 0.0], [3.0, 0.0]]
    assert model.b.weight.tolist() == [[5.0, 0.0]] and lth.round == 3


def test_a_pruned_weight_never_returns_even_where_a_survivor_is_zero():
    model, lth = Two(), make(prune_fraction=0.5)
    put(model, [[1.0, 2.0], [3.0, 4.0]], [[5.0, 6.0]], [0.5])
    lth.setup(model, None, None)
    put(model, [[0.1, -0.9], [0.5, 0.3]], [[-0.7, 0.2]], [0.0])
    lth.next_round(2, model)
    put(model, [[0.0, 0.0], [0.0, 0.0]], [[0.0, 0.0]], [0.0])  # every survivor trained to zero
    lth.next_round(3, model)  # the two kept are survivors, the first by position: a[0][1], a[1][0]
    assert lth.masks["a.weight"].tolist() == [[False, True], [True, False]]
    assert lth.masks["b.weight"].tolist() == [[False, False]]


def test_rewinds_to_the_state_after_step_k_of_the_first_round():
    model, lth = Two(), make(prune_fraction=0.5, rewind_step=2)
    put(model, [[1.0, 2.0], [3.0, 4.0]], [[5.0, 6.0]], [0.5])
    lth.setup(model, None, None)
    assert not lth.rewind  # not before step 2
    for step, value in ((1, 1.5), (2, 2.5), (3, 3.5)):
        put(model, [[value, 2.0], [3.0, 4.0]], [[5.0, 6.0]], [value])
        lth.on_step(step, model, None)
    assert lth.rewind["a.weight"][0, 0] == 2.5 and lth.rewind["b.bias"].tolist() == [2.5]
    put(model, [[0.1, -0.9], [0.5, 0.3]], [[-0.7, 0.2]], [9.0])
    lth.next_round(2, model)
    assert model.a.weight.tolist() == [[0.0, 2.0], [3.0, 0.0]] and model.b.bias.tolist() == [2.5]
    put(model, [[0.0, 8.0], [3.0, 0.0]], [[5.0, 0.0]], [2.5])
    lth.on_step(2, model, None)  # step 2 of round 2 takes no new snapshot
    assert lth.rewind["a.weight"][0, 1] == 2.0


def test_round_and_rewind_state_survive_a_save_load_round_trip(tmp_path):
    model, lth = Two(), make(prune_fraction=0.5)
    put(model, [[1.0, 2.0], [3.0, 4.0]], [[5.0, 6.0]], [0.5])
    lth.setup(model, None, None)
    put(model, [[0.1, -0.9], [0.5, 0.3]], [[-0.7, 0.2]], [9.0])
    lth.next_round(2, model)
    torch.save(lth.state_dict(), tmp_path / "m.pt")
    fresh = make(prune_fraction=0.5)
    fresh.bind(model)
    fresh.load_state_dict(torch.load(tmp_path / "m.pt", weights_only=False))
    assert fresh.round == 2 and fresh.rewind.keys() == lth.rewind.keys()
    assert all(torch.equal(fresh.rewind[k], lth.rewind[k]) for k in lth.rewind)
    assert all(torch.equal(fresh.masks[k], lth.masks[k]) for k in lth.masks)
