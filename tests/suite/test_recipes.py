"""The learning-rate curve: warm-up and step decays as fractions of training."""

from __future__ import annotations

import pytest

from suite.recipes import TrainRecipe, lr_at, milestone_steps


def test_step_decay_at_fractions():
    r = TrainRecipe(lr=0.1, milestones=(0.5, 0.75), gamma=0.1)
    assert [lr_at(r, s, 100) for s in (0, 49, 50, 74, 75, 99)] == pytest.approx(
        [0.1, 0.1, 0.01, 0.01, 0.001, 0.001])
    assert milestone_steps(r, 100) == [50, 75]


def test_linear_warmup_then_peak():
    r = TrainRecipe(lr=0.4, warmup=0.1, milestones=(0.9,))
    assert [lr_at(r, s, 100) for s in (0, 4, 9, 10, 89, 90)] == pytest.approx(
        [0.04, 0.2, 0.4, 0.4, 0.4, 0.04])


def test_linear_scaling_rule():
    r = TrainRecipe(lr=0.1, batch_size=1024, lr_scaling="linear", milestones=())
    assert r.peak_lr == pytest.approx(0.4)
    assert lr_at(r, 0, 10) == pytest.approx(0.4)


@pytest.mark.parametrize("kwargs,fragment", [
    ({"warmup": 1.0}, "warmup"), ({"milestones": (0.7, 0.5)}, "increasing"),
    ({"milestones": (1.5,)}, "fractions"), ({"gamma": 0.0}, "gamma"), ({"lr": -1.0}, "lr"),
])
def test_validate(kwargs, fragment):
    assert fragment in TrainRecipe(**kwargs).validate()
