"""Batch norm under data parallelism: over the global batch, and in fp32.

With data parallelism each rank sees ``batch_size / world_size`` samples, so per-rank
batch norm normalizes with statistics of a batch that shrinks as ranks are added,
another way for results to drift with the rank count. ``batchnorm = "sync"`` (the
DeepSpeed backend's default) computes them over the whole global batch, which makes a
step the torch backend's step: with :class:`torch.nn.SyncBatchNorm` on CUDA in fp32,
otherwise (CPU ranks with gloo, where SyncBatchNorm refuses to run; bf16/fp16, where
DeepSpeed keeps the running statistics in fp32 next to low-precision weights) with
:class:`RankBatchNorm`. ``batchnorm = "local"`` keeps each rank's own statistics.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
import torch.distributed.nn.functional as dist_nn
import torch.nn.functional as F
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm


class RankBatchNorm(_BatchNorm):
    """Batch norm computed in fp32 whatever the precision of its input and parameters;
    with ``sync`` the training statistics are those of the union of all ranks' batches
    (two passes, the mean and then the centred second moment, both all-reduced with
    autograd, so the backward pass is the global batch's too)."""

    sync = True

    def _check_input_dim(self, x: torch.Tensor) -> None:
        if x.dim() < 2:
            raise ValueError(f"expected at least 2D input (got {x.dim()}D input)")

    def _sum(self, t: torch.Tensor) -> torch.Tensor:
        if self.sync and dist.is_initialized() and dist.get_world_size() > 1:
            return dist_nn.all_reduce(t)
        return t

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check_input_dim(x)
        shape = [1, -1] + [1] * (x.dim() - 2)
        xf = x.float()
        weight = self.weight.float() if self.affine else None
        bias = self.bias.float() if self.affine else None
        if not self.training and self.track_running_stats:
            return F.batch_norm(xf, self.running_mean.float(), self.running_var.float(), weight, bias,
                                False, 0.0, self.eps).to(x.dtype)
        dims = [0, *range(2, x.dim())]
        count = torch.full((1,), xf.numel() // xf.shape[1], dtype=xf.dtype, device=xf.device)
        sums = self._sum(torch.cat([xf.sum(dims), count]))
        n = sums[-1]
        mean = sums[:-1] / n
        centred = xf - mean.view(shape)
        var = self._sum((centred * centred).sum(dims)) / n
        y = centred * torch.rsqrt(var + self.eps).view(shape)
        if self.affine:
            y = y * weight.view(shape) + bias.view(shape)
        if self.training and self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                factor = (1.0 / float(self.num_batches_tracked) if self.momentum is None
                          else self.momentum)
                unbiased = var.detach() * n / (n - 1).clamp(min=1)
                self.running_mean.lerp_(mean.detach().to(self.running_mean.dtype), factor)
                self.running_var.lerp_(unbiased.to(self.running_var.dtype), factor)
        return y.to(x.dtype)


class LocalBatchNorm(RankBatchNorm):
    """:class:`RankBatchNorm` with each rank's own statistics."""

    sync = False


def _replace(module: nn.Module, cls: type[RankBatchNorm]) -> nn.Module:
    if isinstance(module, _BatchNorm) and not isinstance(module, RankBatchNorm):
        out = cls(module.num_features, module.eps, module.momentum, module.affine,
                  module.track_running_stats)
        if module.affine:
            out.weight, out.bias = module.weight, module.bias
        if module.track_running_stats:
            out.running_mean, out.running_var = module.running_mean, module.running_var
            out.num_batches_tracked = module.num_batches_tracked
        out.train(module.training)
        return out
    for name, child in module.named_children():
        setattr(module, name, _replace(child, cls))
    return module


def convert_batchnorm(module: nn.Module, mode: str, device: torch.device, mixed_precision: bool) -> nn.Module:
    """``module`` with its batch-norm layers made right for ``mode`` ("sync" or "local"),
    the device and the precision. Parameters and buffers are kept (the same tensors),
    so optimizers and masks built on them stay valid, and so are state-dict keys."""
    if mode == "sync":
        if device.type == "cuda" and not mixed_precision:
            return nn.SyncBatchNorm.convert_sync_batchnorm(module)
        return _replace(module, RankBatchNorm)
    return _replace(module, LocalBatchNorm) if mixed_precision else module
