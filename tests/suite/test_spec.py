"""Spec loading and validation: every error names the file and the key."""

from __future__ import annotations

import pytest

from suite.errors import SpecError
from suite.recipes import PRESETS, TrainRecipe
from suite.spec import parse_spec

BASE = """
[suite]
name = "t"
seeds = [0]
[grid]
method = ["dense"]
model = ["mlp"]
dataset = ["digits"]
sparsity = [0.5]
"""


def spec_error(text: str) -> str:
    with pytest.raises(SpecError) as info:
        parse_spec(text, "my.toml")
    msg = str(info.value)
    assert msg.startswith("my.toml: ")
    return msg


def test_minimal_spec_parses_with_defaults():
    spec = parse_spec(BASE, "my.toml")
    assert spec.name == "t" and spec.seeds == (0,)
    assert spec.axes["sparsity"] == (0.5,)
    assert spec.train == TrainRecipe()
    assert spec.backend == "torch"


def test_unknown_top_level_key_suggests_the_closest():
    msg = spec_error(BASE + "[trian]\nepochs = 3\n")
    assert "unknown key trian" in msg and 'did you mean "train"' in msg


def test_unknown_train_key_suggests_and_lists_allowed():
    msg = spec_error(BASE + "[train]\nepoch = 3\n")
    assert "train.epoch" in msg and 'did you mean "epochs"' in msg and "batch_size" in msg


def test_wrong_type_names_key_value_and_expected_type():
    msg = spec_error(BASE + '[train]\nepochs = "ten"\n')
    assert "train.epochs = 'ten'" in msg and "integer" in msg


@pytest.mark.parametrize("value", ["1.0", "-0.1", "1.5"])
def test_sparsity_outside_unit_interval(value):
    msg = spec_error(BASE.replace("sparsity = [0.5]", f"sparsity = [0.5, {value}]"))
    assert "grid.sparsity[1]" in msg and "outside [0, 1)" in msg


@pytest.mark.parametrize("axis,bad,known", [
    ("method", "dpff", "dense"), ("model", "mlq", "mlp"), ("dataset", "digit", "digits"),
])
def test_unknown_names_list_the_known_ones(axis, bad, known):
    good = {"method": "dense", "model": "mlp", "dataset": "digits"}[axis]
    msg = spec_error(BASE.replace(f'{axis} = ["{good}"]', f'{axis} = ["{bad}"]'))
    assert f"grid.{axis}[0] = '{bad}'" in msg and f"known {axis}s:" in msg and known in msg


def test_unknown_backend_lists_known():
    msg = spec_error(BASE.replace('name = "t"', 'name = "t"\nbackend = "jax"'))
    assert "suite.backend = 'jax'" in msg and "torch" in msg


@pytest.mark.parametrize("axis", ["method", "model", "dataset", "sparsity"])
def test_empty_axis(axis):
    lines = [ln if not ln.startswith(f"{axis} =") else f"{axis} = []" for ln in BASE.splitlines()]
    msg = spec_error("\n".join(lines))
    assert f"grid.{axis} is empty" in msg


def test_missing_axis():
    msg = spec_error(BASE.replace('model = ["mlp"]\n', ""))
    assert "grid.model is missing" in msg


def test_empty_and_missing_seeds():
    assert "suite.seeds is empty" in spec_error(BASE.replace("seeds = [0]", "seeds = []"))
    assert "suite.seeds is missing" in spec_error(BASE.replace("seeds = [0]", ""))


@pytest.mark.parametrize("key", ["epochs", "batch_size"])
@pytest.mark.parametrize("value", ["0", "-3"])
def test_non_positive_epochs_and_batch(key, value):
    msg = spec_error(BASE + f"[train]\n{key} = {value}\n")
    assert f"{key} = {value}" in msg and "positive" in msg


def test_toml_syntax_error_has_line_number():
    msg = spec_error(BASE + "[train\nepochs = 3\n")
    assert "TOML syntax error" in msg and "line 10" in msg


def test_method_options_table_must_name_a_known_method():
    msg = spec_error(BASE + "[method.nope]\nx = 1\n")
    assert "[method.nope]" in msg and "dense" in msg


def test_model_options_are_typed():
    spec = parse_spec(BASE + "[model.mlp]\nhidden = [16, 8]\n")
    assert spec.model_options["mlp"].hidden == (16, 8)
    msg = spec_error(BASE + "[model.mlp]\nhidden = 16\n")
    assert "model.mlp.hidden = 16" in msg and "a list of" in msg


def test_preset_then_overrides_and_layering():
    text = BASE + """
[train]
recipe = "resnet_cifar"
epochs = 30
[train.per_dataset.digits]
batch_size = 32
[train.per_model.mlp]
recipe = "wrn_cifar"
lr = 0.02
"""
    spec = parse_spec(text)
    assert spec.train.epochs == 30 and spec.train.milestones == PRESETS["resnet_cifar"]["milestones"]
    r = spec.recipe_for("mlp", "digits")
    # per-model preset replaces the preset fields, the per-dataset batch size survives it
    # only where the preset does not set it: wrn_cifar sets batch_size = 128.
    assert r.milestones == (0.3, 0.6, 0.8) and r.lr == 0.02 and r.batch_size == 128
    assert spec.recipe_for("small_cnn", "digits").batch_size == 32


def test_unknown_preset_lists_known():
    msg = spec_error(BASE + '[train]\nrecipe = "resnet"\n')
    assert "resnet_cifar" in msg and "train.recipe" in msg


@pytest.mark.parametrize("value", ["[]", "3", "{a = 1}"])
def test_a_preset_that_is_not_a_name_is_refused(value):
    msg = spec_error(BASE + f"[train]\nrecipe = {value}\n")
    assert "train.recipe" in msg and "is not a known recipe" in msg and "resnet_cifar" in msg


def test_int_and_float_coerce_to_the_same_value():
    a = parse_spec(BASE + "[train]\nlr = 1\n")
    b = parse_spec(BASE + "[train]\nlr = 1.0\n")
    assert a.train == b.train and isinstance(a.train.lr, float)


def test_exclude_rule_keys_are_axes():
    msg = spec_error(BASE + "[[grid.exclude]]\nmethods = \"dense\"\n")
    assert "grid.exclude[0].methods" in msg and 'did you mean "method"' in msg


def test_report_layout_validated():
    msg = spec_error(BASE + '[report]\nrows = ["model", "seed"]\n')
    assert "report" in msg and "'seed'" in msg


@pytest.mark.parametrize("seed", [2**32, 2**63, 2**64 + 5])
def test_seeds_beyond_32_bits_are_refused(seed):
    """torch keeps 32 bits of a seed: 2**32 would train exactly as seed 0."""
    msg = spec_error(BASE.replace("seeds = [0]", f"seeds = [0, {seed}]"))
    assert f"suite.seeds[1] = {seed}" in msg and "0..4294967295" in msg


def test_the_largest_seed_is_accepted():
    assert parse_spec(BASE.replace("seeds = [0]", "seeds = [4294967295]")).seeds == (2**32 - 1,)


def test_an_exclude_rule_that_removes_every_cell_warns():
    from suite.spec import SpecWarning

    text = BASE.replace('method = ["dense"]', 'method = ["dense", "dpf"]') + (
        '[[grid.exclude]]\nmodel = "mlp"\n')
    with pytest.warns(SpecWarning, match=r"my.toml: grid.exclude\[0\] removes every cell.*no cell"):
        parse_spec(text, "my.toml")
    together = BASE.replace('method = ["dense"]', 'method = ["dense", "dpf"]') + (
        '[[grid.exclude]]\nmethod = "dense"\n[[grid.exclude]]\nmethod = "dpf"\n'
        '[[grid.include]]\nmethod = "dpf"\nsparsity = 0.7\n')
    with pytest.warns(SpecWarning, match="rules together remove every cell.*include"):
        parse_spec(together, "my.toml")


def test_an_exclude_rule_that_keeps_a_cell_does_not_warn(recwarn):
    parse_spec(BASE + '[[grid.exclude]]\nmodel = "mlp"\nsparsity = 0.9\n', "my.toml")
    assert not [w for w in recwarn if "removes every cell" in str(w.message)]


@pytest.mark.parametrize("where,text", [
    ("grid.sparsity[1]", 'sparsity = [0.9, 0.9000001]'),
    ("grid.include[0].sparsity", 'sparsity = [0.9]\n[[grid.include]]\nsparsity = 0.9000001'),
])
def test_sparsities_that_print_alike_are_refused(where, text):
    msg = spec_error(BASE.replace("sparsity = [0.5]", text))
    assert f"{where} = 0.9000001" in msg and "grid.sparsity[0] = 0.9" in msg and "90%" in msg


def test_sparsities_that_print_apart_are_kept():
    spec = parse_spec(BASE.replace("sparsity = [0.5]", "sparsity = [0.9, 0.95, 0.995, 0.9999]"))
    assert spec.axes["sparsity"] == (0.9, 0.95, 0.995, 0.9999)


@pytest.mark.parametrize("dataset", ["digits", "synthetic"])
def test_top5_on_a_10_class_dataset_is_a_spec_error(dataset):
    text = BASE.replace('dataset = ["digits"]', f'dataset = ["{dataset}"]') + '[report]\nmetric = "top5"\n'
    msg = spec_error(text)
    assert "report.metric = 'top5'" in msg and f"dataset {dataset!r} has 10 classes" in msg


def test_top5_on_a_100_class_dataset_is_accepted():
    text = (BASE.replace('dataset = ["digits"]', 'dataset = ["synthetic", "cifar100"]')
            + '[report]\nmetric = "top5"\n[dataset.synthetic]\nnum_classes = 20\n')
    assert parse_spec(text).report.metric == "top5"


@pytest.mark.parametrize(("value", "why"), [("1e300", "is beyond the range of 32-bit floats"),
                                            ("-1e39", "is beyond the range of 32-bit floats"),
                                            ("inf", "must be a finite number"),
                                            ("nan", "must be a finite number")])
def test_numbers_training_cannot_hold_are_spec_errors(value, why):
    msg = spec_error(BASE + f"[train]\nlr = {value}\n")
    assert "train.lr = " in msg and why in msg
