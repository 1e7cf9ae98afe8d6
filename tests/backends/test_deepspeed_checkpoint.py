"""``[model.<name>] checkpoint`` on two DeepSpeed CPU ranks: every rank loads the file
before SNIP scores its first batch (the ranks' masks are compared by the backend, and
must be the torch backend's), and the result records the file. One launch, some 30 s."""

from __future__ import annotations

import pytest
import torch
from small_specs import ONE_METHOD

pytest.importorskip("deepspeed")

from backends import create_backend  # noqa: E402
from backends.base import NullProgress  # noqa: E402
from backends.deepspeed_backend import DeepSpeedOptions  # noqa: E402
from backends.torch_backend import TorchOptions  # noqa: E402
from suite.grid import expand  # noqa: E402
from suite.spec import parse_spec  # noqa: E402

pytestmark = pytest.mark.deepspeed

SNIP = (ONE_METHOD.replace('method = ["dpf"]', 'method = ["snip"]')
        .replace("sparsity = [0.8]", "sparsity = [0.5]"))


def masks(path) -> dict[str, torch.Tensor]:
    return {k: v != 0 for k, v in torch.load(path, weights_only=True).items()
            if k.endswith("weight") and v.dim() == 2}


def agreement(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    return sum(int((a[k] == b[k]).sum()) for k in a) / sum(m.numel() for m in a.values())


def test_two_ranks_start_from_a_checkpoint_the_suite_trained(tmp_path):
    torch_fit = create_backend("torch", TorchOptions(device="cpu")).fit
    dense = expand(parse_spec(SNIP.replace('method = ["snip"]', 'method = ["dense"]')))[0]
    torch_fit(dense, 0, tmp_path / "trained", NullProgress())
    start = tmp_path / "trained" / "model.pt"
    text = SNIP.replace("hidden = [16]", f'hidden = [16]\ncheckpoint = "{start}"')
    cell = expand(parse_spec(text))[0]
    scratch = expand(parse_spec(SNIP))[0]

    backend = create_backend("deepspeed", DeepSpeedOptions(num_gpus=2))
    record = backend.fit(cell, 0, tmp_path / "ds", NullProgress())
    found = record["provenance"]["model_checkpoint"]
    assert found["sha256"] == cell.model_options.checkpoint_sha256 and found["layout"] == "state dict"
    assert record["provenance"]["deepspeed_run"]["world_size"] == 2

    torch_fit(cell, 0, tmp_path / "torch", NullProgress())
    torch_fit(scratch, 0, tmp_path / "scratch", NullProgress())
    ds = masks(tmp_path / "ds" / "model.pt")
    assert agreement(ds, masks(tmp_path / "torch" / "model.pt")) >= 0.99
    assert agreement(ds, masks(tmp_path / "scratch" / "model.pt")) < 0.9
