"""The recipe fields on DeepSpeed: what is refused before launching (clipping of masked
gradients under ZeRO), and two-rank runs with AdamW, a cosine schedule, clipping, label
smoothing and a validation set against the torch backend at ZeRO stages 0, 1 and 2
(AdamW's moments follow the masks into the partitions), plus an exact resume under ZeRO.

    tox -e deepspeed        # or: pytest -m deepspeed tests/backends/test_deepspeed_recipe.py

Six launches of some 20-35 s each on 2 CPU cores.
"""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("deepspeed")

from test_deepspeed import SPEC, TOP1_TOLERANCE, StopAfter  # noqa: E402

from backends import create_backend  # noqa: E402
from backends.base import NullProgress  # noqa: E402
from backends.deepspeed.options import DeepSpeedOptions  # noqa: E402
from backends.deepspeed.recipe import check_recipe, recipe_config  # noqa: E402
from backends.torch_backend import TorchOptions  # noqa: E402
from methods import METHODS  # noqa: E402
from suite import interrupt  # noqa: E402
from suite.errors import SpecError  # noqa: E402
from suite.grid import expand  # noqa: E402
from suite.spec import parse_spec  # noqa: E402

pytestmark = pytest.mark.deepspeed

RECIPE = ('optimizer = "adamw"\nschedule = "cosine"\ngrad_clip = 1.0\nlabel_smoothing = 0.1\n'
          "val_fraction = 0.2\nlr = 0.005")


def cells_of(recipe: str, methods=("dense", "dpf", "sm", "snip")) -> dict[str, object]:
    text = SPEC.replace("lr = 0.05", recipe).replace(
        'method = ["dense", "dpf", "sm", "dsr"]', f"method = {list(methods)!r}".replace("'", '"'))
    return {c.method: c for c in expand(parse_spec(text))}


@pytest.fixture(scope="module")
def adamw_cells():
    return cells_of(RECIPE)


def test_what_zero_cannot_honour_is_refused_before_launching(adamw_cells, tmp_path):
    for method in ("dense", "dpf", "sm", "snip"):
        check_recipe(adamw_cells[method], 0)  # ZeRO 0: every field as on one device
    for method in ("dense", "dpf", "sm"):  # their gradients are not masked: ZeRO's norm is the same
        check_recipe(adamw_cells[method], 2)
    with pytest.raises(SpecError, match=r"grad_clip = 1.0 with method 'snip' and .* zero_stage = 2"):
        check_recipe(adamw_cells["snip"], 2)
    check_recipe(cells_of("lr = 0.05")["snip"], 2)  # without clipping
    assert recipe_config(adamw_cells["dpf"].train) == {"gradient_clipping": 1.0}
    backend = create_backend("deepspeed", DeepSpeedOptions(num_gpus=2, zero_stage=1))
    with pytest.raises(SpecError, match="grad_clip"):
        backend.fit(adamw_cells["snip"], 0, tmp_path, NullProgress())
    assert not (tmp_path / "deepspeed").exists()  # nothing launched


@pytest.fixture(scope="module")
def torch_dpf(adamw_cells, tmp_path_factory):
    out = tmp_path_factory.mktemp("torch-adamw")
    return create_backend("torch", TorchOptions(device="cpu")).fit(adamw_cells["dpf"], 0, out,
                                                                   NullProgress())


@pytest.fixture(scope="module")
def zero0_dpf(adamw_cells, tmp_path_factory):
    out = tmp_path_factory.mktemp("zero0-adamw")
    backend = create_backend("deepspeed", DeepSpeedOptions(num_gpus=2, zero_stage=0))
    return backend.fit(adamw_cells["dpf"], 0, out, NullProgress())


def test_adamw_recipe_on_two_ranks_matches_the_torch_backend(zero0_dpf, torch_dpf):
    ds, ref = zero0_dpf, torch_dpf
    assert ds["validation"] == ref["validation"]  # the same held-out images on every rank
    assert [set(c) >= {"val_top1", "val_loss"} for c in ds["curve"]] == [True] * 3
    for key in ("top1", "val_top1"):
        assert abs(ds["metrics"][key] - ref["metrics"][key]) <= TOP1_TOLERANCE
    assert [c["lr"] for c in ds["curve"]] == pytest.approx([c["lr"] for c in ref["curve"]])
    assert ds["curve"][0]["train_loss"] == pytest.approx(ref["curve"][0]["train_loss"], rel=1e-3)


def test_clipping_under_zero_2_matches_the_torch_backend(tmp_path):
    cell = cells_of('grad_clip = 0.5\nval_fraction = 0.2\nlr = 0.05', methods=("dpf",))["dpf"]
    ref = create_backend("torch", TorchOptions(device="cpu")).fit(cell, 0, tmp_path / "t", NullProgress())
    ds = create_backend("deepspeed", DeepSpeedOptions(num_gpus=2, zero_stage=2)).fit(
        cell, 0, tmp_path / "d", NullProgress())
    assert ds["curve"][0]["train_loss"] == pytest.approx(ref["curve"][0]["train_loss"], rel=1e-3)
    for key in ("top1", "val_top1"):
        assert abs(ds["metrics"][key] - ref["metrics"][key]) <= TOP1_TOLERANCE


@pytest.fixture(scope="module")
def zero1_sm(adamw_cells, tmp_path_factory):
    out = tmp_path_factory.mktemp("zero1-adamw-sm")
    backend = create_backend("deepspeed", DeepSpeedOptions(num_gpus=2, zero_stage=1))
    return backend.fit(adamw_cells["sm"], 0, out, NullProgress()), out


def test_adamw_under_zero_1_regrows_by_the_gathered_first_moment(adamw_cells, zero1_sm, tmp_path):
    ref = create_backend("torch", TorchOptions(device="cpu")).fit(adamw_cells["sm"], 0, tmp_path,
                                                                  NullProgress())
    ds, _ = zero1_sm
    assert ds["sparsity"]["overall"] == pytest.approx(ref["sparsity"]["overall"], abs=1e-9)
    assert len(ds["flips"]) == len(ref["flips"]) > 0
    for key in ("top1", "val_top1"):
        assert abs(ds["metrics"][key] - ref["metrics"][key]) <= TOP1_TOLERANCE


def test_adamw_moments_of_pruned_weights_are_cleared_in_the_zero_2_partitions(tmp_path):
    cell = cells_of(RECIPE.replace("grad_clip = 1.0\n", ""), methods=("dsr",))["dsr"]
    ref = create_backend("torch", TorchOptions(device="cpu")).fit(cell, 0, tmp_path / "t", NullProgress())
    ds = create_backend("deepspeed", DeepSpeedOptions(num_gpus=2, zero_stage=2)).fit(
        cell, 0, tmp_path / "d", NullProgress())
    for key in ("top1", "val_top1"):
        assert abs(ds["metrics"][key] - ref["metrics"][key]) <= TOP1_TOLERANCE
    state = torch.load(tmp_path / "d" / "checkpoint.pt", weights_only=False)
    moments, masks = state["optimizer"]["state"], state["method"]["masks"]
    params = [k for k in state["model"] if k.endswith(("weight", "bias"))]  # the optimizer's order
    for name, mask in masks.items():
        entry = moments[params.index(name)]
        assert float(entry["step"]) == 3 * 17  # 1438 digits, 288 held out: 1150 // 64 steps an epoch
        assert (entry["exp_avg"][~mask] == 0).all() and (entry["exp_avg_sq"][~mask] == 0).all()
        assert (entry["exp_avg"][mask] != 0).any()


def test_adamw_stop_and_resume_under_zero_1_equals_the_uninterrupted_run(adamw_cells, zero1_sm,
                                                                         tmp_path):
    whole, _ = zero1_sm
    backend = create_backend("deepspeed", DeepSpeedOptions(num_gpus=2, zero_stage=1))
    interrupt.clear()
    try:
        with pytest.raises(interrupt.Interrupted):
            backend.fit(adamw_cells["sm"], 0, tmp_path, StopAfter(20))
    finally:
        interrupt.clear()
    state = torch.load(tmp_path / "checkpoint.pt", weights_only=False)
    assert (state["epoch"], state["batch"]) != (3, 0)
    assert {"step", "exp_avg", "exp_avg_sq"} <= set(next(iter(state["optimizer"]["state"].values())))
    resumed = backend.fit(adamw_cells["sm"], 0, tmp_path, NullProgress())
    assert resumed["metrics"] == whole["metrics"] and resumed["flips"] == whole["flips"]
    assert [c["val_top1"] for c in resumed["curve"]] == [c["val_top1"] for c in whole["curve"]]


@pytest.mark.parametrize("name", [n for n in METHODS.names() if METHODS.get(n).reads_gradients])
def test_methods_that_read_dense_gradients_are_refused_before_launching(name):
    cell = cells_of("lr = 0.05", methods=(name,))[name]
    with pytest.raises(SpecError, match=f"method '{name}' reads the dense gradients"):
        check_recipe(cell, 0)
