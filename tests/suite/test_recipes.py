"""The learning-rate curve (warm-up, then step, cosine or linear decay, as fractions of
training) and the recipe fields' checks and ids."""

from __future__ import annotations

import pytest

from suite.errors import SpecError
from suite.grid import expand
from suite.options import identity_fields
from suite.recipes import TrainRecipe, lr_at, milestone_steps
from suite.spec import parse_spec


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


def test_cosine_after_warmup_reaches_zero_at_the_end():
    # 10 steps, 2 of warm-up: p = (s - 2) / 8 after it, lr = (1 + cos(pi p)) / 2
    r = TrainRecipe(lr=1.0, warmup=0.2, schedule="cosine")
    got = [lr_at(r, s, 10) for s in range(10)]
    assert got == pytest.approx([0.5, 1.0, 1.0, 0.9619397662556434, 0.8535533905932737,
                                 0.6913417161825449, 0.5, 0.3086582838174551,
                                 0.14644660940672624, 0.03806023374435663], abs=1e-12)


def test_linear_decay_without_and_with_warmup():
    r = TrainRecipe(lr=0.4, schedule="linear")
    assert [lr_at(r, s, 4) for s in range(4)] == pytest.approx([0.4, 0.3, 0.2, 0.1], abs=1e-12)
    r = TrainRecipe(lr=0.4, warmup=0.25, schedule="linear")  # 2 of 8 steps: p = (s - 2) / 6
    assert [lr_at(r, s, 8) for s in range(8)] == pytest.approx(
        [0.2, 0.4, 0.4, 1 / 3, 0.8 / 3, 0.2, 0.4 / 3, 0.2 / 3], abs=1e-12)


def test_milestones_and_gamma_only_shape_the_step_schedule():
    a = TrainRecipe(schedule="cosine", milestones=(0.5,), gamma=0.5)
    b = TrainRecipe(schedule="cosine", milestones=(0.1, 0.2), gamma=0.1)
    assert [lr_at(a, s, 20) for s in range(20)] == [lr_at(b, s, 20) for s in range(20)]


@pytest.mark.parametrize("key,value,fragments", [
    ("schedule", '"exp"', ["train.schedule = 'exp'", "'step', 'cosine', 'linear'"]),
    ("optimizer", '"adam"', ["train.optimizer = 'adam'", "'sgd', 'adamw'"]),
    ("betas", "[0.9]", ["betas = [0.9]", "two numbers, each in [0, 1)"]),
    ("betas", "[0.9, 1.0]", ["betas = [0.9, 1.0]", "two numbers, each in [0, 1)"]),
    ("eps", "0", ["eps = 0.0", "must be positive"]),
    ("label_smoothing", "1.0", ["label_smoothing = 1.0", "[0, 1)"]),
    ("grad_clip", "-1", ["grad_clip = -1.0", ">= 0"]),
    ("val_fraction", "1", ["val_fraction = 1.0", "[0, 1)"]),
    ("val_fraction", "-0.1", ["val_fraction = -0.1", "[0, 1)"]),
])
def test_bad_new_fields_are_spec_errors_naming_key_value_and_allowed(tiny_spec_text, key, value,
                                                                      fragments):
    text = tiny_spec_text.replace("lr = 0.05", f"lr = 0.05\n{key} = {value}")
    with pytest.raises(SpecError) as info:
        parse_spec(text)
    assert "train" in str(info.value)
    for fragment in fragments:
        assert fragment in str(info.value)


def test_new_fields_at_their_defaults_keep_the_cell_ids(tiny_spec_text):
    assert identity_fields(TrainRecipe()) == {}
    explicit = tiny_spec_text.replace("lr = 0.05", (
        'lr = 0.05\nschedule = "step"\noptimizer = "sgd"\nbetas = [0.9, 0.999]\neps = 1e-8\n'
        "label_smoothing = 0\ngrad_clip = 0\nval_fraction = 0"))
    ids = [c.id for c in expand(parse_spec(tiny_spec_text))]
    assert [c.id for c in expand(parse_spec(explicit))] == ids
    changed = tiny_spec_text.replace("lr = 0.05", 'lr = 0.05\nschedule = "cosine"')
    (cell,) = expand(parse_spec(changed))
    assert cell.id not in ids and cell.canonical()["train"]["schedule"] == "cosine"
