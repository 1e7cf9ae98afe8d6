"""Shared fixtures: a seconds-long spec on the synthetic dataset."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest
from hypothesis import settings

# The gate (tox's default envs) draws the same hypothesis examples on every run, so a
# red CI always means a change broke something; `tox -e fuzz` draws new ones each time.
# No deadline: an example that is slow on a busy machine is not a failure (speed is
# measured by the benchmarks, never asserted).
settings.register_profile("ci", derandomize=True, database=None, print_blob=True, deadline=None)
settings.register_profile("fuzz", database=None, print_blob=True, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

TINY_SPEC = textwrap.dedent("""
    [suite]
    name = "tiny"
    seeds = [0, 1]

    [grid]
    method = ["dense"]
    model = ["mlp"]
    dataset = ["synthetic"]
    sparsity = [0.5]

    [train]
    epochs = 2
    batch_size = 64
    lr = 0.05

    [model.mlp]
    hidden = [32]

    [dataset.synthetic]
    train_size = 256
    test_size = 128
""")


@pytest.fixture
def tiny_spec_text() -> str:
    return TINY_SPEC


@pytest.fixture
def tiny_spec(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.toml"
    path.write_text(TINY_SPEC)
    return path


@pytest.fixture
def results(tmp_path: Path) -> Path:
    return tmp_path / "results"
