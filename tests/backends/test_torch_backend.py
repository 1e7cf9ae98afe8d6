"""The torch backend: deterministic on the CPU, resumable from its epoch checkpoints."""

from __future__ import annotations

import pytest
import torch
from progress_stops import InterruptAfter

from backends import create_backend
from backends.base import NullProgress
from backends.torch_backend import TorchOptions
from suite.grid import expand
from suite.spec import parse_spec


@pytest.fixture
def cell(tiny_spec_text):
    return expand(parse_spec(tiny_spec_text.replace("epochs = 2", "epochs = 3")))[0]


def fit(cell, run_dir, seed=0, progress=None):
    backend = create_backend("torch", TorchOptions(device="cpu"))
    return backend.fit(cell, seed, run_dir, progress or NullProgress())


def test_same_seed_same_result_other_seed_differs(cell, tmp_path):
    a = fit(cell, tmp_path / "a")
    b = fit(cell, tmp_path / "b")
    c = fit(cell, tmp_path / "c", seed=1)
    assert a["curve"] == b["curve"] and a["metrics"] == b["metrics"]
    assert a["curve"] != c["curve"]
    wa = torch.load(tmp_path / "a" / "model.pt")
    wb = torch.load(tmp_path / "b" / "model.pt")
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


def test_resume_after_interruption_equals_uninterrupted(cell, tmp_path):
    whole = fit(cell, tmp_path / "whole")
    steps_per_epoch = 256 // 64
    with pytest.raises(KeyboardInterrupt):
        # dies in the middle of epoch 2, after epoch 1's checkpoint
        fit(cell, tmp_path / "cut", progress=InterruptAfter(steps_per_epoch + 2))
    state = torch.load(tmp_path / "cut" / "checkpoint.pt", weights_only=False)
    assert state["epoch"] == 1
    resumed = fit(cell, tmp_path / "cut")
    assert resumed["metrics"] == whole["metrics"]
    assert [c["top1"] for c in resumed["curve"]] == [c["top1"] for c in whole["curve"]]
    assert "resume at epoch 1" in (tmp_path / "cut" / "log.txt").read_text()


def test_result_record_fields(cell, tmp_path):
    r = fit(cell, tmp_path / "r")
    assert r["cell_id"] == cell.id and r["cell"] == cell.canonical()
    s = r["sparsity"]
    assert s["overall"] == 0.0 and not s["off_target"]
    assert s["params_total"] == s["params_kept"] > 0
    assert s["macs_total"] == s["macs_kept"] > 0
    assert r["timing"]["images_per_second"] > 0
    assert [c["epoch"] for c in r["curve"]] == [1, 2, 3]
