"""The recipe fields on DeepSpeed: what is refused before launching (AdamW under ZeRO,
clipping of masked gradients under ZeRO), and two-rank runs with AdamW, a cosine
schedule, clipping, label smoothing and a validation set against the torch backend,
plus their exact resume.

    tox -e deepspeed        # or: pytest -m deepspeed tests/backends/test_deepspeed_recipe.py

Four launches of some 20-35 s each on 2 CPU cores.
"""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("deepspeed")

from test_deepspeed import SPEC, TOP1_TOLERANCE, StopAfter  # noqa: E402

from backends import create_backend  # noqa: E402
from backends.base import NullProgress  # noqa: E402
from backends.deepspeed_backend import DeepSpeedOptions  # noqa: E402
from backends.deepspeed_recipe import check_recipe, recipe_config  # noqa: E402
from backends.torch_backend import TorchOptions  # noqa: E402
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
    with pytest.raises(SpecError, match=r"optimizer = 'adamw' with \[backend.deepspeed\] zero_stage = 1"):
        check_recipe(adamw_cells["dense"], 1)
    for method in ("dense", "dpf", "sm", "snip"):
        check_recipe(adamw_cells[method], 0)  # ZeRO 0: every field as on one device
    clipped = cells_of('grad_clip = 1.0\nlr = 0.05')
    with pytest.raises(SpecError, match=r"grad_clip = 1.0 with method 'snip' and .* zero_stage = 2"):
        check_recipe(clipped["snip"], 2)
    for method in ("dense", "dpf", "sm"):  # their gradients are not masked: ZeRO's norm is the same
        check_recipe(clipped[method], 2)
    assert recipe_config(clipped["dpf"].train) == {"gradient_clipping": 1.0}
    backend = create_backend("deepspeed", DeepSpeedOptions(num_gpus=2, zero_stage=1))
    with pytest.raises(SpecError, match="optimizer = 'adamw'"):
        backend.fit(adamw_cells["dpf"], 0, tmp_path, NullProgress())
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


def test_adamw_stop_and_resume_equals_the_uninterrupted_run(adamw_cells, zero0_dpf, tmp_path):
    backend = create_backend("deepspeed", DeepSpeedOptions(num_gpus=2, zero_stage=0))
    interrupt.clear()
    try:
        with pytest.raises(interrupt.Interrupted):
            backend.fit(adamw_cells["dpf"], 0, tmp_path, StopAfter(20))
    finally:
        interrupt.clear()
    state = torch.load(tmp_path / "checkpoint.pt", weights_only=False)
    assert (state["epoch"], state["batch"]) != (3, 0)
    assert "exp_avg" in next(iter(state["optimizer"]["state"].values()))
    resumed = backend.fit(adamw_cells["dpf"], 0, tmp_path, NullProgress())
    assert resumed["metrics"] == zero0_dpf["metrics"]
    assert [c["val_top1"] for c in resumed["curve"]] == [c["val_top1"] for c in zero0_dpf["curve"]]
