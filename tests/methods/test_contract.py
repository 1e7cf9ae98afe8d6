"""Contract tests over the method registry: every method, on a seconds-long spec through
the real training loop, hits its target sparsity (counted from the stored weights), is
deterministic for a seed, and resumes from a checkpoint to the very same result."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import torch

from backends.base import NullProgress
from backends.training import Trainer
from methods import METHODS
from methods.measure import OFF_TARGET_TOLERANCE
from suite.grid import expand
from suite.spec import parse_spec

#: Option tables that make masks move within 48 steps (defaults are sized for real runs).
#: SET keeps the small CNN's classifier dense: sparse (22 of 160 weights), it leaves whole
#: input channels unconnected, and weights SET grows at random into the filters of those
#: channels get no gradient, so they stay at their initial zero and count as pruned.
#: LTH trains two rounds (dense, then pruned to the target and rewound) instead of the nine
#: its 20% per round would take to 80%.
SHORT_RUN_OPTIONS = {"dsr": "rewire_every = 8", "incremental": "prune_every = 8",
                     "set": "exclude_last_linear = true", "rigl": "update_every = 8",
                     "granet": "update_every = 8", "lth": "rounds = 2"}


def cell_for(method: str, model: str = "mlp", sparsity: float = 0.8):
    options = SHORT_RUN_OPTIONS.get(method)
    spec = parse_spec(textwrap.dedent(f"""
        [suite]
        seeds = [0]
        [grid]
        method = ["{method}"]
        model = ["{model}"]
        dataset = ["synthetic"]
        sparsity = [{sparsity}]
        [train]
        epochs = 3
        batch_size = 32
        lr = 0.05
        [model.mlp]
        hidden = [48, 24]
        [model.small_cnn]
        channels = [8, 16]
        [dataset.synthetic]
        train_size = 512
        test_size = 64
    """) + (f"[method.{method}]\n{options}\n" if options else ""))
    (cell,) = expand(spec)
    return cell


class Interrupt(Exception):
    pass


class StopAfter(NullProgress):
    """Raises once ``steps`` training steps are done (a simulated crash)."""

    def __init__(self, steps: int) -> None:
        self.left = steps

    def advance(self, steps: int, **postfix) -> None:
        self.left -= steps
        if self.left < 0:
            raise Interrupt


def fit(cell, run_dir: Path, seed: int = 0, progress=None) -> dict:
    return Trainer(cell, seed, run_dir, torch.device("cpu")).fit(progress or NullProgress())


def weights(run_dir: Path) -> dict[str, torch.Tensor]:
    return torch.load(run_dir / "model.pt", weights_only=True)


def same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("model", ["mlp", "small_cnn"])
@pytest.mark.parametrize("name", METHODS.names())
def test_reaches_target_sparsity_counted_from_weights(name, model, tmp_path):
    cell = cell_for(name, model)
    result = fit(cell, tmp_path)
    summary = result["sparsity"]
    assert abs(summary["overall"] - cell.sparsity) <= OFF_TARGET_TOLERANCE, summary
    assert not summary["off_target"]
    # recount from the stored weights, over the method's own prunable set
    stored = weights(tmp_path)
    prunable = list(summary["per_layer"])
    zeros = sum(int((stored[n] == 0).sum()) for n in prunable)
    assert zeros / sum(stored[n].numel() for n in prunable) == pytest.approx(summary["overall"])
    method = METHODS.get(name)
    if method.moves_mask and cell.sparsity > 0:
        assert result["flips"] and all(0 <= f["flip_ratio"] <= 1 for f in result["flips"])


@pytest.mark.parametrize("name", METHODS.names())
def test_deterministic_for_a_seed_and_resumable(name, tmp_path):
    cell = cell_for(name)
    first = fit(cell, tmp_path / "a")
    second = fit(cell, tmp_path / "b")
    assert same(weights(tmp_path / "a"), weights(tmp_path / "b"))
    assert first["flips"] == second["flips"] and first["curve"] == second["curve"]
    # crash in the third epoch (after the checkpoint of the second), then resume
    with pytest.raises(Interrupt):
        fit(cell, tmp_path / "c", progress=StopAfter(2 * 16 + 3))
    resumed = fit(cell, tmp_path / "c")
    assert "resume at epoch 2" in (tmp_path / "c" / "log.txt").read_text()
    assert same(weights(tmp_path / "a"), weights(tmp_path / "c"))
    assert resumed["flips"] == first["flips"]
    assert [c["top1"] for c in resumed["curve"]] == [c["top1"] for c in first["curve"]]


@pytest.mark.parametrize("name", METHODS.names())
def test_state_survives_a_save_load_round_trip(name, tmp_path, toy):
    cell = cell_for(name)
    ctx = toy.ctx(sparsity=cell.sparsity, total_steps=48)
    model = toy.model()
    method = toy.method(name, ctx)
    toy.train(method, model, 40)
    torch.save(method.state_dict(), tmp_path / "method.pt")
    fresh = toy.method(name, ctx)
    fresh.bind(model)
    fresh.load_state_dict(torch.load(tmp_path / "method.pt", weights_only=False))
    assert fresh.masks.keys() == method.masks.keys()
    assert all(torch.equal(fresh.masks[k], method.masks[k]) for k in method.masks)
    assert fresh.flips == method.flips and fresh.extra_state() == method.extra_state()


@pytest.mark.parametrize("name", METHODS.names())
def test_options_have_docs_and_defaults(name):
    cls = METHODS.get(name)
    assert cls.Options.__doc__ and cls.__doc__
    cls.Options()  # every option has a default
    check = getattr(cls.Options(), "validate", None)
    assert check is None or check() is None
