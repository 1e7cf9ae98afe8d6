"""Runs of several rounds (LTH) through the real training loop: the per-round record,
the target reached, a stop and resume in and between rounds equal to the whole run,
and the DeepSpeed backend's refusal (checked without launching it)."""

from __future__ import annotations

import textwrap

import pytest
import torch
from progress_stops import InterruptAfter

from backends.base import NullProgress
from backends.deepspeed.recipe import check_recipe
from backends.training import Trainer
from methods.masks import kept_count
from suite.errors import SpecError
from suite.grid import expand
from suite.spec import parse_spec


def cell(method: str = "lth", epochs: int = 1, options: str = "rounds = 3", sparsity: float = 0.8):
    (c,) = expand(parse_spec(textwrap.dedent(f"""
        [suite]
        seeds = [0]
        [grid]
        method = ["{method}"]
        model = ["mlp"]
        dataset = ["digits"]
        sparsity = [{sparsity}]
        [train]
        epochs = {epochs}
        batch_size = 64
        lr = 0.05
        [model.mlp]
        hidden = [32]
        [method.{method}]
        {options}
    """)))
    return c


def fit(c, run_dir, progress=None) -> tuple[dict, Trainer]:
    trainer = Trainer(c, 0, run_dir, torch.device("cpu"))
    return trainer.fit(progress or NullProgress()), trainer


def test_three_rounds_record_each_round_and_end_at_the_target(tmp_path):
    c = cell()
    assert c.rounds == 3
    record, trainer = fit(c, tmp_path)
    rounds = record["rounds"]
    assert [r["round"] for r in rounds] == [1, 2, 3] and all(r["epochs"] == 1 for r in rounds)
    assert [r["sparsity"] for r in rounds][:2] == [0.0, pytest.approx(1 - 0.2 ** 0.5, abs=1e-3)]
    assert [(e["round"], e["epoch"]) for e in record["curve"]] == [(1, 1), (2, 1), (3, 1)]
    assert [r["top1"] for r in rounds] == [e["top1"] for e in record["curve"]]
    assert record["metrics"]["best_top1"] == rounds[-1]["best_top1"]  # the last round's, not round 1's
    summary, weights = record["sparsity"], torch.load(tmp_path / "model.pt", weights_only=True)
    total = sum(weights[n].numel() for n in summary["per_layer"])
    kept = sum(int(weights[n].count_nonzero()) for n in summary["per_layer"])
    assert kept == kept_count(total, 0.8) and rounds[-1]["sparsity"] == pytest.approx(summary["overall"])
    assert not summary["off_target"]
    assert trainer.global_step() == 3 * trainer.steps_per_epoch
    log = (tmp_path / "log.txt").read_text()
    assert "round 2/3: sparsity 0.55" in log and "round 3/3: sparsity 0.7998" in log


def test_a_single_round_record_has_no_round_fields(tmp_path):
    record, _ = fit(cell("oneshot", options="prune_at = 0.5"), tmp_path)
    assert "rounds" not in record and all("round" not in e for e in record["curve"])


@pytest.mark.parametrize("stop", ["at_round_end", "within_round"])
def test_stop_and_resume_across_rounds_equals_the_whole_run(stop, tmp_path):
    c = cell(epochs=2)
    whole, trainer = fit(c, tmp_path / "whole")
    spe = trainer.steps_per_epoch
    # after the checkpoint of round 1's last epoch; or in round 2's second epoch
    steps = 2 * spe if stop == "at_round_end" else 3 * spe + 2
    with pytest.raises(KeyboardInterrupt):
        fit(c, tmp_path / "cut", InterruptAfter(steps))
    state = torch.load(tmp_path / "cut" / "checkpoint.pt", weights_only=False)
    assert (state["round"], state["epoch"]) == ((1, 2) if stop == "at_round_end" else (2, 1))
    resumed, _ = fit(c, tmp_path / "cut")
    expected = "resume at epoch " + ("2 of round 1/3" if stop == "at_round_end" else "1 of round 2/3")
    assert expected in (tmp_path / "cut" / "log.txt").read_text()
    a = torch.load(tmp_path / "whole" / "model.pt", weights_only=True)
    b = torch.load(tmp_path / "cut" / "model.pt", weights_only=True)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert resumed["curve"] == whole["curve"] and resumed["rounds"] == whole["rounds"]
    assert resumed["metrics"] == whole["metrics"]


def test_deepspeed_refuses_a_method_of_several_rounds_before_launching():
    with pytest.raises(SpecError, match="method 'lth' trains 3 rounds at sparsity 0.8, each with a "
                                        "fresh optimizer.*run it on the torch backend"):
        check_recipe(cell(), 0)
    check_recipe(cell(sparsity=0.0), 0)  # no pruning, one round: nothing to refuse
    check_recipe(cell("oneshot", options="prune_at = 0.5"), 0)
