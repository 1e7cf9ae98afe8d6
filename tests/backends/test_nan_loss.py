"""A run whose loss or weights become NaN fails saying so, also when a mask update trips
on the NaN weights first (DPF ranks the weights every step here)."""

from __future__ import annotations

import pytest
import torch
from click.testing import CliRunner

from backends.training import Trainer
from suite.cli import main
from suite.store import Store


def _run_dpf(tmp_path, tiny_spec_text) -> str:
    text = (tiny_spec_text.replace('method = ["dense"]', 'method = ["dpf"]')
            .replace("seeds = [0, 1]", "seeds = [0]").replace("sparsity = [0.5]", "sparsity = [0.9]")
            .replace("hidden = [32]", "hidden = [1024]")  # large enough for the bucketed top-k
            + "\n[method.dpf]\nreprune_every = 1\n")
    spec = tmp_path / "nan.toml"
    spec.write_text(text)
    results = tmp_path / "results"
    res = CliRunner().invoke(main, ["run", str(spec), "--results", str(results)])
    assert res.exit_code == 1, res.output
    row = next(iter(Store(results).runs().values()))
    assert row.status == "failed" and "cannot select" not in row.error, row.error
    return row.error


@pytest.fixture
def steps(monkeypatch):
    """Counts optimizer steps; ``poison`` fills the weights with NaN from a given step on."""
    original = torch.optim.SGD.step
    state = {"n": 0, "poison_from": None}

    def step(self, *args, **kwargs):
        out = original(self, *args, **kwargs)
        state["n"] += 1
        if state["poison_from"] is not None and state["n"] >= state["poison_from"]:
            with torch.no_grad():
                for group in self.param_groups:
                    for p in group["params"]:
                        p.fill_(float("nan"))
        return out

    monkeypatch.setattr(torch.optim.SGD, "step", step)
    return state


def test_a_nan_loss_is_reported_as_the_loss(tmp_path, tiny_spec_text, steps, monkeypatch):
    loss_fn = Trainer.loss_fn

    def nan_from_step_3(self, logits, y):
        loss = loss_fn(self, logits, y)
        if steps["n"] >= 2:  # the third step's loss; its NaN gradients then reach the weights
            steps["poison_from"] = 3
            return loss * float("nan")
        return loss

    monkeypatch.setattr(Trainer, "loss_fn", nan_from_step_3)
    assert "training loss became nan in epoch 1 (step 3)" in _run_dpf(tmp_path, tiny_spec_text)


def test_nan_weights_under_a_finite_loss_are_reported_as_divergence(tmp_path, tiny_spec_text, steps):
    steps["poison_from"] = 2
    error = _run_dpf(tmp_path, tiny_spec_text)
    assert "training diverged in epoch 1: the weights became non-finite at step 2" in error
