"""The pruned forms compute what the masked model computes: the shrunk model (after
zeroing the norm shifts of removed channels) to 1e-5, the CSR model to float rounding."""

from __future__ import annotations

import pytest
import torch

from methods.base import default_prunable
from methods.masks import filter_masks, filter_norms, magnitude_masks
from suite.data.info import DatasetInfo
from suite.models import create_model
from suite.speed import macs, shrink, sparse

INFO = DatasetInfo(10, (3, 16, 16), (0.5,) * 3, (0.25,) * 3)


def trained_like(name: str) -> torch.nn.Module:
    """A model whose norms have non-zero shifts and statistics, as after training."""
    torch.manual_seed(0)
    model = create_model(name, INFO)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d | torch.nn.BatchNorm1d):
            m.bias.data.normal_()
            m.running_mean.normal_()
            m.running_var.uniform_(0.5, 2.0)
    return model.eval()


@torch.no_grad()
def prune(model: torch.nn.Module, sparsity: float, structure: str) -> torch.nn.Module:
    weights = default_prunable(model)
    weights.pop(next(reversed(weights)))  # the classifier keeps its rows
    if structure == "filter":
        masks = filter_masks(filter_norms(weights), {k: v.shape for k, v in weights.items()},
                             sparsity, scope="layer")
    else:
        masks = magnitude_masks(weights, sparsity)
    for name, p in weights.items():
        p.mul_(masks[name])
    return model


@pytest.mark.parametrize("name", ["resnet20", "small_cnn", "wrn28_2"])
def test_the_shrunk_model_equals_the_masked_one_with_removed_shifts_zeroed(name):
    pytest.importorskip("torch_pruning", reason="the speed extra: pip install 'pruning-suite[speed]'")
    model = prune(trained_like(name), 0.5, "filter")
    assert shrink.zeroes_whole_channels(model)
    x = torch.randn(3, 3, 16, 16)
    got = shrink.shrink(model, x)
    assert got.removed_channels > 0
    assert sum(p.numel() for p in got.model.parameters()) < sum(p.numel() for p in model.parameters())
    with torch.no_grad():
        assert torch.allclose(got.model(x), got.reference(x), atol=1e-5, rtol=0)
        assert macs.count_macs(got.model, (3, 16, 16)) < macs.count_macs(model, (3, 16, 16))


def test_zeroing_the_shifts_is_needed_and_reported():
    """A zero filter before batch norm with a shift is a constant channel, not a zero one."""
    pytest.importorskip("torch_pruning", reason="the speed extra: pip install 'pruning-suite[speed]'")
    model = prune(trained_like("resnet20"), 0.5, "filter")
    got = shrink.shrink(model, torch.randn(2, 3, 16, 16))
    assert got.shifts_zeroed > 0 and got.max_change_from_zeroing > 1e-3


def test_the_csr_model_equals_the_masked_one():
    model = prune(trained_like("resnet20"), 0.8, "unstructured")
    assert not shrink.zeroes_whole_channels(model)
    fast, converted = sparse.to_sparse(model)
    assert converted == 19  # every conv but the classifier, which keeps its rows dense
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        assert torch.allclose(fast(x), model(x), atol=1e-5, rtol=1e-5)


def test_kept_macs_count_only_non_zero_weights():
    model = create_model("mlp", DatasetInfo(10, (1, 8, 8), (0.5,), (0.25,)))
    dense = macs.count_macs(model, (1, 8, 8))
    with torch.no_grad():
        model[1].weight[: model[1].weight.shape[0] // 2] = 0
    kept = macs.count_kept_macs(model, (1, 8, 8))
    assert kept == dense - model[1].weight.numel() // 2


def test_two_four_pattern():
    w = torch.tensor([[1.0, 0, 2, 0, 0, 3, 0, 4]])
    assert sparse.is_two_four(w)
    assert not sparse.is_two_four(torch.ones(1, 8))


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message of a machine without CUDA")
def test_gpu_paths_say_why_they_cannot_run_here():
    from suite.speed import timing

    with pytest.raises(RuntimeError, match="needs a CUDA"):
        sparse.semi_structured(torch.nn.Linear(64, 64))
    with pytest.raises(RuntimeError, match="needs a CUDA"):
        timing.cuda_timer(lambda: None, 1)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device: 2:4 runs on a GPU only")
def test_semi_structured_equals_the_masked_linear_on_a_gpu():
    lin = torch.nn.Linear(128, 128)
    with torch.no_grad():
        lin.weight.view(128, 32, 4)[:, :, 2:] = 0
    fast, converted = sparse.semi_structured(torch.nn.Sequential(lin))
    assert converted == 1
    x = torch.randn(64, 128, device="cuda", dtype=torch.half)
    assert torch.allclose(fast(x), lin.cuda().half()(x), atol=1e-2, rtol=1e-2)
