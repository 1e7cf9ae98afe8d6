"""suite export --model RUN: the sparse state dict and the torch.nn.utils.prune one."""

from __future__ import annotations

import torch
from click.testing import CliRunner
from small_specs import ONE_METHOD
from torch.nn.utils import prune

from suite.cli import main
from suite.data import create_dataset
from suite.grid import expand
from suite.models import create_model
from suite.spec import parse_spec

SPEC = ONE_METHOD


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def test_prune_users_load_the_exported_masks(tmp_path, monkeypatch):
    spec_path = tmp_path / "one.toml"
    spec_path.write_text(SPEC)
    results = tmp_path / "results"
    assert invoke("run", spec_path, "--results", results).exit_code == 0
    spec = parse_spec(SPEC)
    cell = expand(spec)[0]
    out = tmp_path / "w" / "mlp.pt"
    res = invoke("export", "--model", f"{cell.id}/seed-0", "--results", results, "--out", out)
    assert res.exit_code == 0, res.output
    assert f"wrote {out}" in res.output and "mlp.prune.pt" in res.output

    info = create_dataset("synthetic", spec.dataset_options["synthetic"]).info()
    sparse = create_model("mlp", info, spec.model_options["mlp"])
    sparse.load_state_dict(torch.load(out, weights_only=True))

    model = create_model("mlp", info, spec.model_options["mlp"])  # what a torch user does
    state = torch.load(tmp_path / "w" / "mlp.prune.pt", weights_only=True)
    for name, module in model.named_modules():
        if f"{name}.weight_mask" in state:
            prune.identity(module, "weight")
    model.load_state_dict(state)

    masks = {k: v for k, v in state.items() if k.endswith("weight_mask")}
    assert masks and not any(k.endswith(".weight") for k in state if k[:-7] + "_mask" in masks)
    kept = sum(int(m.sum()) for m in masks.values())
    total = sum(m.numel() for m in masks.values())
    assert abs(1 - kept / total - 0.8) < 0.01
    x = torch.randn(5, *info.image_shape)
    sparse.eval(), model.eval()
    assert torch.equal(sparse(x), model(x))
    # the same run named CELL_ID:N, written to the default file name
    monkeypatch.chdir(tmp_path)
    again = invoke("export", "--model", f"{cell.id}:0", "--results", results)
    assert again.exit_code == 0
    assert (tmp_path / f"{cell.id}-seed-0.pt").is_file()
    assert (tmp_path / f"{cell.id}-seed-0.prune.pt").is_file()


def test_an_unknown_run_is_a_usage_error(tmp_path):
    res = invoke("export", "--model", "nonsense", "--results", tmp_path)
    assert res.exit_code == 2 and "CELL_ID/seed-N" in res.output
    res = invoke("export", "--model", "0123456789ab/seed-0", "--results", tmp_path)
    assert res.exit_code == 2 and "no model.pt" in res.output
