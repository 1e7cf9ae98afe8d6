"""TensorBoard event files: every epoch's scalars and every mask update's flip ratio,
read back with TensorBoard's own reader."""

from __future__ import annotations

import subprocess
import sys

import pytest

from suite.store import Store

pytest.importorskip("tensorboard")
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402


def scalars(run_dir) -> dict[str, list[tuple[int, float]]]:
    acc = EventAccumulator(str(run_dir / "events"))
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def test_a_run_writes_its_curve_and_flips_as_tensorboard_events(tmp_path, tiny_spec_text):
    spec = tmp_path / "sm.toml"  # sparse momentum moves its mask at every epoch's end
    spec.write_text(tiny_spec_text.replace('method = ["dense"]', 'method = ["sm"]')
                    .replace("seeds = [0, 1]", "seeds = [0]"))
    results = tmp_path / "r"
    subprocess.run([sys.executable, "-m", "suite.cli", "run", spec, "--results", results],
                   check=True, capture_output=True)
    ((cell_id, seed), row), = Store(results, create=False).runs().items()
    found = scalars(results / "runs" / cell_id / f"seed-{seed}")
    curve, flips = row.result["curve"], row.result["flips"]
    steps = [s for s, _ in found["train/loss"]]
    assert len(steps) == len(curve) == 2 and steps[0] < steps[1]
    for tag, key in (("train/loss", "train_loss"), ("test/top1", "top1"), ("train/lr", "lr"),
                     ("mask/sparsity", "sparsity")):
        assert [v for _, v in found[tag]] == pytest.approx([c[key] for c in curve], rel=1e-6)
    assert flips and [s for s, _ in found["mask/flip_ratio"]] == [f["step"] for f in flips]
    assert [v for _, v in found["mask/flip_ratio"]] == pytest.approx([f["flip_ratio"] for f in flips])
