"""Whole runs of the new recipe fields on the torch backend: the validation metrics in
the record and the store, and an exact resume with AdamW, a cosine schedule, clipping,
label smoothing and a validation set."""

from __future__ import annotations

import pytest
import torch
from click.testing import CliRunner
from progress_stops import InterruptAfter
from small_specs import TWO_METHODS
from test_torch_backend import fit

from backends.validation import check_resumed_split
from suite.cli import main
from suite.data.holdout import holdout
from suite.errors import SuiteError
from suite.grid import expand
from suite.spec import parse_spec
from suite.store import Store

RECIPE = ('optimizer = "adamw"\nlr = 0.01\nweight_decay = 0.05\nschedule = "cosine"\nwarmup = 0.1\n'
          "grad_clip = 0.5\nlabel_smoothing = 0.1\nval_fraction = 0.25")


@pytest.fixture
def cell(tiny_spec_text):
    text = tiny_spec_text.replace("epochs = 2", "epochs = 3").replace("lr = 0.05", RECIPE)
    return expand(parse_spec(text.replace('method = ["dense"]', 'method = ["dpf"]')))[0]


def test_validation_metrics_and_split_are_recorded(cell, tmp_path):
    r = fit(cell, tmp_path / "r")
    assert [set(c) >= {"val_top1", "val_loss", "top1"} for c in r["curve"]] == [True] * 3
    assert r["metrics"]["val_top1"] == r["curve"][-1]["val_top1"]  # the final model is the last epoch's
    assert 0 <= r["metrics"]["val_top1"] <= 100 and r["metrics"]["val_loss"] > 0
    assert r["validation"] == holdout(256, 0.25, 0).record()
    assert r["validation"]["images"] == 64 and r["validation"]["train_images"] == 192
    assert r["timing"]["images_per_second"] > 0


def test_resume_with_the_new_fields_equals_the_uninterrupted_run(cell, tmp_path):
    whole = fit(cell, tmp_path / "whole")
    steps_per_epoch = 192 // 64
    with pytest.raises(KeyboardInterrupt):
        fit(cell, tmp_path / "cut", progress=InterruptAfter(steps_per_epoch + 1))
    state = torch.load(tmp_path / "cut" / "checkpoint.pt", weights_only=False)
    assert state["epoch"] == 1 and "exp_avg" in state["optimizer"]["state"][0]
    assert state["holdout"] == whole["validation"]
    resumed = fit(cell, tmp_path / "cut")
    assert resumed["metrics"] == whole["metrics"]
    assert resumed["curve"] == whole["curve"] and resumed["flips"] == whole["flips"]


def test_a_checkpoint_of_another_split_is_not_resumed():
    split = holdout(256, 0.25, 0)
    check_resumed_split(split.record(), split)
    check_resumed_split(None, None)  # checkpoints from before validation sets
    with pytest.raises(SuiteError, match="the training data changed"):
        check_resumed_split(holdout(250, 0.25, 0).record(), split)


def test_val_top1_reaches_the_store_end_to_end(tmp_path):
    spec = tmp_path / "val.toml"
    spec.write_text(TWO_METHODS.replace("batch_size = 64", "batch_size = 32\nval_fraction = 0.25"))
    res = CliRunner().invoke(main, ["run", str(spec), "--results", str(tmp_path / "results")],
                             catch_exceptions=False)
    assert res.exit_code == 0, res.output
    rows = Store(tmp_path / "results").runs()
    for c in expand(parse_spec(spec.read_text())):
        record = rows[c.id, 0].result
        assert "val_top1" in record["metrics"] and "val_loss" in record["metrics"]
        assert all("val_top1" in e for e in record["curve"])
        assert record["validation"]["images"] == 32 and record["validation"]["seed"] == 0
