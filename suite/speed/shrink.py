"""Physically shrink a model whose masks zero whole output channels, with torch-pruning
(its dependency graph keeps every coupled layer consistent: the batch norm after a
conv, the next conv's inputs, every layer tied to a residual stream).

A channel is removed only when every layer that writes it, across its whole
torch-pruning group, has a zero filter there; a zero filter tied to a residual stream
whose other writers are not zero stays, as a zero filter.

The trap: a zero filter followed by batch norm is not a zero channel. The norm's shift
(``beta - gamma * mean / sqrt(var + eps)``) turns it into a constant that the next layer
sees. Removing the channel drops that constant, so :func:`zero_removed_shifts` first
zeroes the shift of every channel that goes; the shrunk model then computes exactly
what the masked model computes with those shifts zeroed, and :func:`shrink` reports how
far that moved the outputs from the model as trained.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import nn

from suite.errors import SuiteError

PRUNABLE_TYPES = (nn.Conv2d, nn.Linear)
NORM_TYPES = (nn.BatchNorm1d, nn.BatchNorm2d)


@dataclass
class Shrunk:
    """A shrunk model and what it took: removed channels, zeroed norm shifts, and the
    largest change of the outputs that zeroing them made (on the check batch)."""

    model: nn.Module
    reference: nn.Module  # the masked model with the removed channels' shifts zeroed
    removed_channels: int
    shifts_zeroed: int
    max_change_from_zeroing: float


def _graph(model: nn.Module, example: torch.Tensor):
    try:
        import torch_pruning as tp
    except ImportError:
        raise SuiteError("shrinking a filter-pruned model needs torch-pruning: "
                         "pip install 'pruning-suite[speed]'") from None

    with torch.enable_grad():  # the graph is traced through autograd
        return tp, tp.DependencyGraph().build_dependency(model, example_inputs=example)


def output_layers(model: nn.Module) -> list[nn.Module]:
    """The last conv or linear layer: its outputs are the model's, never removed."""
    layers = [m for m in model.modules() if isinstance(m, PRUNABLE_TYPES)]
    return layers[-1:]


def _zero_rows(weight: torch.Tensor) -> torch.Tensor:
    return weight.detach().reshape(weight.shape[0], -1).abs().sum(dim=1) == 0


def removable(model: nn.Module, example: torch.Tensor) -> dict[str, list[int]]:
    """For each conv or linear layer that roots a torch-pruning group: the output
    channels whose every writer in the group has a zero filter."""
    tp, graph = _graph(model, example)
    names = {id(m): n for n, m in model.named_modules()}
    out: dict[str, list[int]] = {}
    for group in graph.get_all_groups(ignored_layers=output_layers(model),
                                      root_module_types=list(PRUNABLE_TYPES)):
        root = group.items[0].dep.target.module
        zero = _zero_rows(root.weight)
        for item in group.items[1:]:
            layer = item.dep.target.module
            if (isinstance(layer, PRUNABLE_TYPES) and graph.is_out_channel_pruning_fn(item.dep.handler)
                    and layer is not root):
                rows = _zero_rows(layer.weight)
                idxs = [int(i) for i in item.idxs]
                roots = [int(i) for i in getattr(item, "root_idxs", None) or group.items[0].idxs]
                for i, r in zip(idxs, roots, strict=False):
                    zero[r] &= rows[i]
        chosen = [int(i) for i in torch.nonzero(zero).flatten()]
        if chosen and len(chosen) < zero.numel():  # never a layer down to no channel
            out[names[id(root)]] = chosen
    return out


def _norms_of(model: nn.Module, example: torch.Tensor, plan: dict[str, list[int]]):
    """(norm layer name, channel indices) of the batch norms whose channels go."""
    tp, graph = _graph(model, example)
    names = {id(m): n for n, m in model.named_modules()}
    modules = dict(model.named_modules())
    for root_name, idxs in plan.items():
        root = modules[root_name]
        fn = tp.prune_conv_out_channels if isinstance(root, nn.Conv2d) else tp.prune_linear_out_channels
        for item in graph.get_pruning_group(root, fn, idxs=idxs).items:
            layer = item.dep.target.module
            if isinstance(layer, NORM_TYPES):
                yield names[id(layer)], [int(i) for i in item.idxs]


def zero_removed_shifts(model: nn.Module, example: torch.Tensor,
                        plan: dict[str, list[int]]) -> tuple[nn.Module, int]:
    """A copy of ``model`` whose batch norms output exactly zero on the channels of
    ``plan`` (scale and shift zeroed), and how many of them had a non-zero shift."""
    zeroed = copy.deepcopy(model)
    modules = dict(zeroed.named_modules())
    nonzero = 0
    for name, idxs in list(_norms_of(zeroed, example, plan)):
        norm = modules[name]
        index = torch.tensor(idxs, dtype=torch.long)
        with torch.no_grad():
            shift = norm.bias[index] - norm.weight[index] * norm.running_mean[index] / torch.sqrt(
                norm.running_var[index] + norm.eps)
            nonzero += int((shift != 0).sum())
            norm.weight[index] = 0.0
            norm.bias[index] = 0.0
    return zeroed, nonzero


def shrink(model: nn.Module, example: torch.Tensor) -> Shrunk:
    """The model without the channels that :func:`removable` finds, in eval mode."""
    model = copy.deepcopy(model).eval()
    plan = removable(model, example)
    reference, shifts = zero_removed_shifts(model, example, plan)
    reference.eval()
    small = copy.deepcopy(reference)
    tp, graph = _graph(small, example)
    modules = dict(small.named_modules())
    for root_name, idxs in plan.items():
        root = modules[root_name]
        fn = tp.prune_conv_out_channels if isinstance(root, nn.Conv2d) else tp.prune_linear_out_channels
        group = graph.get_pruning_group(root, fn, idxs=idxs)
        if graph.check_pruning_group(group):
            group.prune()
    with torch.no_grad():
        change = float((model(example) - reference(example)).abs().max()) if plan else 0.0
    return Shrunk(small.eval(), reference, sum(len(v) for v in plan.values()), shifts, change)


def zeroes_whole_channels(model: nn.Module) -> bool:
    """True when every zero of the conv and linear weights lies in a whole zero output
    channel (filter, row), and there is at least one."""
    zeros_in_rows = zeros = 0
    for m in model.modules():
        if isinstance(m, PRUNABLE_TYPES):
            w = m.weight.detach()
            zeros += int((w == 0).sum())
            zeros_in_rows += int(_zero_rows(w).sum()) * (w.numel() // w.shape[0])
    return zeros > 0 and zeros == zeros_in_rows
