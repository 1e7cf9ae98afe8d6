"""Two-rank DeepSpeed runs through the real ``deepspeed`` launcher, on CPU ranks (gloo).

Quickstart cells (digits, MLP, the quickstart's recipe cut to 3 epochs) for a method
that does not move its mask (dense) and the three that do (dpf, sm, dsr); parity with
the torch backend at ZeRO stages 0, 1 and 2; the master weights and momentum that the
masks must reach; a resume after a stop; a mask mismatch injected on one rank;
``precision = "auto"`` agreed by the ranks; a SNIP cell that starts from a model the
torch backend trained (``[model.mlp] checkpoint``), loaded by every rank.

    tox -e deepspeed        # or: pytest -m deepspeed tests/backends/test_deepspeed.py

Each launch costs some 20-35 s on 2 CPU cores, mostly start-up (12 launches plus 7 torch
runs): the file takes about 7 to 8 minutes there.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from small_specs import ONE_METHOD

pytest.importorskip("deepspeed")

from backends import create_backend  # noqa: E402
from backends.base import NullProgress, RunFailed  # noqa: E402
from backends.deepspeed.backend import SHM_DIR, SHM_PREFIX  # noqa: E402
from backends.deepspeed.options import DeepSpeedOptions  # noqa: E402
from backends.deepspeed.trainer import CORRUPT_ENV  # noqa: E402
from backends.torch_backend import TorchOptions  # noqa: E402
from suite import interrupt  # noqa: E402
from suite.grid import expand  # noqa: E402
from suite.runner import run_dir  # noqa: E402
from suite.spec import parse_spec  # noqa: E402
from suite.store import Store  # noqa: E402

pytestmark = pytest.mark.deepspeed

#: Accuracy tolerance of the parity checks, in percentage points of test top-1. The two
#: backends compute the same steps (global batch, batch norm over it, same masks); only
#: the order of floating-point sums differs, which moves accuracies by far less than
#: one test image (0.28 points of the 359 digits test images).
TOP1_TOLERANCE = 1.0
MASK_AGREEMENT = 0.99

SPEC = textwrap.dedent("""
    [suite]
    name = "deepspeed_quickstart"
    seeds = [0]

    [grid]
    method = ["dense", "dpf", "sm", "dsr"]
    model = ["mlp"]
    dataset = ["digits"]
    sparsity = [0.9]

    [train]
    epochs = 3
    batch_size = 64
    lr = 0.05
    warmup = 0.05
    milestones = [0.5, 0.75]
    weight_decay = 1e-4

    [method.dpf]
    reprune_every = 4

    [method.dsr]
    rewire_every = 8

    [backend.deepspeed]
    num_gpus = 2
""")
MOVING = {"dpf", "sm", "dsr"}


@pytest.fixture(scope="module")
def spec_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("spec") / "deepspeed_quickstart.toml"
    path.write_text(SPEC)
    return path


@pytest.fixture(scope="module")
def cells(spec_file) -> dict[str, object]:
    return {c.method: c for c in expand(parse_spec(spec_file.read_text()))}


@pytest.fixture(scope="module")
def two_rank_store(spec_file, tmp_path_factory) -> Path:
    """``suite run SPEC --backend deepspeed``: one launched two-rank job per cell."""
    results = tmp_path_factory.mktemp("results")
    buffers_before = set(SHM_DIR.glob(f"{SHM_PREFIX}*"))
    proc = subprocess.run([sys.executable, "-m", "suite.cli", "run", str(spec_file), "--results",
                           str(results), "--backend", "deepspeed"], capture_output=True, text=True,
                          timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "4 runs done, 0 failed" in proc.stdout, proc.stdout + proc.stderr
    # the ranks' CPU all-reduce buffers do not outlive their jobs
    assert set(SHM_DIR.glob(f"{SHM_PREFIX}*")) <= buffers_before
    return results


@pytest.fixture(scope="module")
def torch_runs(cells, tmp_path_factory):
    """The torch backend's run of a cell (seed 0) on the CPU, once per cell."""
    done: dict[str, tuple[dict, Path]] = {}

    def get(method: str) -> tuple[dict, Path]:
        if method not in done:
            out = tmp_path_factory.mktemp(f"torch-{method}")
            record = create_backend("torch", TorchOptions(device="cpu")).fit(
                cells[method], 0, out, NullProgress())
            done[method] = record, out
        return done[method]

    return get


@pytest.fixture(scope="module")
def zero_runs(cells, tmp_path_factory):
    """Two-rank runs of a cell at a ZeRO stage, once per (method, stage)."""
    done: dict[tuple[str, int], tuple[dict, Path]] = {}

    def get(method: str, stage: int) -> tuple[dict, Path]:
        if (method, stage) not in done:
            out = tmp_path_factory.mktemp(f"zero{stage}-{method}")
            backend = create_backend("deepspeed", DeepSpeedOptions(num_gpus=2, zero_stage=stage))
            done[method, stage] = backend.fit(cells[method], 0, out, NullProgress()), out
        return done[method, stage]

    return get


def masks_of(model_state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v != 0 for k, v in model_state.items() if k.endswith("weight") and v.dim() == 2}


def assert_parity(record: dict, out: Path, ref: dict, ref_out: Path) -> None:
    assert record["sparsity"]["overall"] == pytest.approx(ref["sparsity"]["overall"], abs=1e-9)
    mine, theirs = (masks_of(torch.load(d / "model.pt")) for d in (out, ref_out))
    agree = sum(int((mine[k] == theirs[k]).sum()) for k in theirs)
    assert agree / sum(m.numel() for m in theirs.values()) >= MASK_AGREEMENT
    for key in ("top1", "best_top1"):
        assert abs(record["metrics"][key] - ref["metrics"][key]) <= TOP1_TOLERANCE
    assert len(record["flips"]) == len(ref["flips"])


def test_quickstart_cells_run_on_two_ranks_and_are_stored(two_rank_store, cells):
    rows = Store(two_rank_store, create=False).runs()
    assert {(c.id, 0) for c in cells.values()} == set(rows)
    for method, cell in cells.items():
        row = rows[cell.id, 0]
        assert row.status == "done", row
        r = row.result
        assert r["provenance"]["backend"] == "deepspeed"
        assert r["provenance"]["deepspeed_run"]["world_size"] == 2
        assert r["provenance"]["deepspeed_run"]["batch_per_rank"] == 32
        assert len(r["curve"]) == 3 and r["metrics"]["top1"] > 50
        assert not r["sparsity"]["off_target"]
        assert bool(r["flips"]) == (method in MOVING)
        folder = run_dir(two_rank_store, cell.id, 0)
        assert {"checkpoint.pt", "model.pt", "curve.json", "log.txt"} <= {p.name for p in folder.iterdir()}
        assert (folder / "deepspeed" / "launch.log").exists()


@pytest.mark.parametrize("method", ["dense", "dpf", "sm", "dsr"])
def test_parity_with_torch_at_zero_stage_0(two_rank_store, cells, torch_runs, method):
    record = Store(two_rank_store, create=False).runs()[cells[method].id, 0].result
    ref, ref_out = torch_runs(method)
    assert_parity(record, run_dir(two_rank_store, cells[method].id, 0), ref, ref_out)


@pytest.mark.parametrize("method, stage", [("dpf", 2), ("sm", 1), ("dsr", 1)])
def test_zero_partitions_reach_master_weights_and_momentum(zero_runs, torch_runs, method, stage):
    record, out = zero_runs(method, stage)
    ref, ref_out = torch_runs(method)
    assert_parity(record, out, ref, ref_out)
    assert record["provenance"]["deepspeed_run"]["zero_stage"] == stage
    # The last checkpoint holds the fp32 master weights and the momentum gathered from
    # the ranks' partitions, in the torch backend's format: compare them with torch's.
    mine, theirs = (torch.load(d / "checkpoint.pt", weights_only=False) for d in (out, ref_out))
    names = list(theirs["method"]["masks"])
    buffers = ("running_mean", "running_var", "num_batches_tracked")
    params = {k: i for i, k in enumerate(k for k in mine["model"] if not k.endswith(buffers))}
    for name in names:
        mask = mine["method"]["masks"][name]
        assert torch.equal(mask, theirs["method"]["masks"][name])
        weight = mine["model"][name]
        momentum = mine["optimizer"]["state"][params[name]]["momentum_buffer"]
        # equal up to the order of floating-point sums
        torch.testing.assert_close(weight, theirs["model"][name], rtol=1e-3, atol=1e-4)
        torch.testing.assert_close(momentum, theirs["optimizer"]["state"][params[name]]["momentum_buffer"],
                                   rtol=1e-3, atol=1e-4)
        if method == "dpf":  # feedback: the master stays dense
            assert (weight[~mask] != 0).any()
        else:  # hard: pruned master weights are zero
            assert (weight[~mask] == 0).all()
        if method == "dsr":  # and gradients masked: so is their momentum
            assert (momentum[~mask] == 0).all()


class StopAfter(NullProgress):
    """Asks for a graceful stop (as Ctrl-C does) once ``steps`` steps were reported."""

    def __init__(self, steps: int) -> None:
        self.left = steps

    def advance(self, steps: int, **postfix) -> None:
        self.left -= steps
        if self.left <= 0:
            interrupt.request()


def test_stop_and_resume_equals_the_uninterrupted_run(cells, zero_runs, tmp_path):
    whole, _ = zero_runs("dpf", 2)
    backend = create_backend("deepspeed", DeepSpeedOptions(num_gpus=2, zero_stage=2))
    interrupt.clear()
    try:
        with pytest.raises(interrupt.Interrupted):
            backend.fit(cells["dpf"], 0, tmp_path, StopAfter(20))
    finally:
        interrupt.clear()
    state = torch.load(tmp_path / "checkpoint.pt", weights_only=False)
    assert (state["epoch"], state["batch"]) != (3, 0)  # stopped before the end
    resumed = backend.fit(cells["dpf"], 0, tmp_path, NullProgress())
    assert resumed["metrics"] == whole["metrics"]
    assert [c["top1"] for c in resumed["curve"]] == [c["top1"] for c in whole["curve"]]
    assert resumed["flips"] == whole["flips"]
    assert "resume at epoch" in (tmp_path / "log.txt").read_text()


def test_a_mask_mismatch_on_one_rank_fails_the_run(cells, tmp_path, monkeypatch):
    monkeypatch.setenv(CORRUPT_ENV, "1")  # rank 1 flips one mask entry
    backend = create_backend("deepspeed", DeepSpeedOptions(num_gpus=2))
    with pytest.raises(RunFailed, match=r"masks differ between ranks before step 1 \(rank 0: crc"):
        backend.fit(cells["sm"], 0, tmp_path, NullProgress())
    assert not (tmp_path / "model.pt").exists()


def test_auto_precision_is_agreed_by_the_ranks_and_recorded(tmp_path):
    """``precision = "auto"`` on two CPU ranks: bf16 where the CPU has it, fp32 elsewhere,
    the same on both ranks, recorded like the torch backend's."""
    from backends import precision as numerics

    text = SPEC.replace('method = ["dense", "dpf", "sm", "dsr"]', 'method = ["dpf"]').replace(
        "seeds = [0]", 'seeds = [0]\nbackend = "deepspeed"')  # its table sets the cells' precision
    spec = parse_spec(text.replace("num_gpus = 2", 'num_gpus = 2\nzero_stage = 1\nprecision = "auto"'))
    (cell,) = expand(spec)
    assert cell.precision == "auto"
    record = create_backend("deepspeed", spec.backend_options["deepspeed"]).fit(
        cell, 0, tmp_path, NullProgress())
    expected = "bf16" if numerics.cpu_native_bf16() else "fp32"
    prov = record["provenance"]
    assert (prov["precision"], prov["precision_requested"]) == (expected, "auto")
    assert prov["deepspeed_run"]["precision"] == expected and prov["cpu_capability"]
    assert record["cell"]["precision"] == "auto" and record["metrics"]["top1"] > 50
    assert f"precision={expected} (auto)" in (tmp_path / "log.txt").read_text()


def _weight_masks(path: Path) -> dict[str, torch.Tensor]:
    return {k: v != 0 for k, v in torch.load(path, weights_only=True).items()
            if k.endswith("weight") and v.dim() == 2}


def _agreement(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    return sum(int((a[k] == b[k]).sum()) for k in a) / sum(m.numel() for m in a.values())


def test_ranks_start_from_a_checkpoint_the_suite_trained(tmp_path):
    """Every rank loads the file before SNIP scores its first batch: a rank that did not
    would decide other masks, which the backend refuses (the ranks' masks are compared)."""
    snip = (ONE_METHOD.replace('method = ["dpf"]', 'method = ["snip"]')
            .replace("sparsity = [0.8]", "sparsity = [0.5]"))
    torch_fit = create_backend("torch", TorchOptions(device="cpu")).fit
    dense = expand(parse_spec(snip.replace('method = ["snip"]', 'method = ["dense"]')))[0]
    torch_fit(dense, 0, tmp_path / "trained", NullProgress())
    start = tmp_path / "trained" / "model.pt"
    (cell,) = expand(parse_spec(snip.replace("hidden = [16]", f'hidden = [16]\ncheckpoint = "{start}"')))

    record = create_backend("deepspeed", DeepSpeedOptions(num_gpus=2)).fit(
        cell, 0, tmp_path / "ds", NullProgress())
    found = record["provenance"]["model_checkpoint"]
    assert found["sha256"] == cell.model_options.checkpoint_sha256 and found["layout"] == "state dict"
    assert record["provenance"]["deepspeed_run"]["world_size"] == 2

    torch_fit(cell, 0, tmp_path / "torch", NullProgress())
    torch_fit(expand(parse_spec(snip))[0], 0, tmp_path / "scratch", NullProgress())
    ds = _weight_masks(tmp_path / "ds" / "model.pt")
    assert _agreement(ds, _weight_masks(tmp_path / "torch" / "model.pt")) >= MASK_AGREEMENT
    assert _agreement(ds, _weight_masks(tmp_path / "scratch" / "model.pt")) < 0.9
