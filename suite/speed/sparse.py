"""Sparse-kernel execution of an unstructured mask: each conv and linear layer keeps only
its non-zero weights as a CSR matrix; a convolution becomes im2col (``F.unfold``) and
one sparse-dense product. Convs with groups, or dilation, and layers without a zero
stay dense. The outputs equal the masked dense model's up to summation order.

On a GPU, :func:`semi_structured` converts linear layers whose mask is 2:4 (at most
two non-zeros in every group of four along the input dimension) to
``torch.sparse.to_sparse_semi_structured``, the format sparse tensor cores run.
"""

from __future__ import annotations

import copy
import warnings

import torch
import torch.nn.functional as F
from torch import nn


def _out_size(size: int, padding: int, dilation: int, kernel: int, stride: int) -> int:
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


class SparseConv2d(nn.Module):
    """A conv as im2col and a CSR (out channels x in*kh*kw) product."""

    def __init__(self, conv: nn.Conv2d) -> None:
        super().__init__()
        self.out_channels = conv.out_channels
        self.kernel_size, self.stride = conv.kernel_size, conv.stride
        self.padding, self.dilation = conv.padding, conv.dilation
        self.weight = conv.weight.detach().reshape(conv.out_channels, -1).to_sparse_csr()
        self.bias = None if conv.bias is None else conv.bias.detach().clone()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, _, h, w = x.shape
        cols = F.unfold(x, self.kernel_size, self.dilation, self.padding, self.stride)  # N, CK, L
        oh, ow = (_out_size(size, self.padding[i], self.dilation[i], self.kernel_size[i], self.stride[i])
                  for i, size in enumerate((h, w)))
        dense = cols.transpose(0, 1).reshape(cols.shape[1], -1)  # CK, N*L
        out = torch.sparse.mm(self.weight, dense).reshape(self.out_channels, n, oh * ow)
        out = out.transpose(0, 1).reshape(n, self.out_channels, oh, ow)
        return out if self.bias is None else out + self.bias.view(1, -1, 1, 1)


class SparseLinear(nn.Module):
    """A linear layer as a CSR (out x in) product."""

    def __init__(self, linear: nn.Linear) -> None:
        super().__init__()
        self.weight = linear.weight.detach().to_sparse_csr()
        self.bias = None if linear.bias is None else linear.bias.detach().clone()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.sparse.mm(self.weight, x.reshape(-1, x.shape[-1]).t()).t()
        out = out.reshape(*x.shape[:-1], out.shape[-1])
        return out if self.bias is None else out + self.bias


def _convertible(module: nn.Module) -> bool:
    if isinstance(module, nn.Conv2d):
        plain = module.groups == 1 and module.padding_mode == "zeros" and not isinstance(module.padding, str)
        return plain and bool((module.weight == 0).any())
    return isinstance(module, nn.Linear) and bool((module.weight == 0).any())


@torch.no_grad()
def to_sparse(model: nn.Module) -> tuple[nn.Module, int]:
    """A copy of ``model`` (eval mode) with its sparse conv and linear layers in CSR form,
    and how many layers were converted."""
    out = copy.deepcopy(model).eval()
    converted = 0
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        for module in list(out.modules()):
            for child_name, child in list(module.named_children()):
                if _convertible(child):
                    sparse = SparseConv2d(child) if isinstance(child, nn.Conv2d) else SparseLinear(child)
                    setattr(module, child_name, sparse)
                    converted += 1
    return out, converted


def is_two_four(weight: torch.Tensor) -> bool:
    """Whether every group of four consecutive input weights has at most two non-zeros."""
    w = weight.detach().reshape(weight.shape[0], -1)
    if w.shape[1] % 4:
        return False
    return bool(((w.reshape(w.shape[0], -1, 4) != 0).sum(dim=2) <= 2).all())


@torch.no_grad()
def semi_structured(model: nn.Module) -> tuple[nn.Module, int]:
    """A copy of ``model`` on CUDA in fp16 whose 2:4 linear layers hold
    ``to_sparse_semi_structured`` weights, and how many were converted. Needs a GPU
    with sparse tensor cores (compute capability 8.0 or newer)."""
    if not torch.cuda.is_available():
        raise RuntimeError("2:4 semi-structured sparsity needs a CUDA GPU; this machine has none")
    from torch.sparse import to_sparse_semi_structured

    out = copy.deepcopy(model).eval().half().cuda()
    converted = 0
    for module in out.modules():
        if isinstance(module, nn.Linear) and is_two_four(module.weight) and min(module.weight.shape) >= 64:
            module.weight = nn.Parameter(to_sparse_semi_structured(module.weight))
            converted += 1
    return out, converted
