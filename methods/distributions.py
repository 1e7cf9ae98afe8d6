"""*How much per layer*: integer allocations of a kept (or regrown) count across layers.

Pure functions on sizes and weights. :func:`apportion` is the one primitive: a total
split in proportion to weights, each share capped, rounded by largest remainder, so
the parts always add up to the total exactly.

A sparsity *distribution* names how a target sparsity is spread over the prunable
layers (the option ``distribution`` of the mask-based methods):

- ``"global"``: no per-layer counts; one ranking of the scores over all layers decides
  (for a random mask: one draw over all positions);
- ``"uniform"``: the same density in every layer;
- ``"erk"``: Erdős–Rényi-kernel (Evci et al. 2020), density proportional to
  ``sum(shape) / prod(shape)``, kernel dimensions included;
- ``"er"``: Erdős–Rényi (Mocanu et al. 2018), density proportional to
  ``(n_in + n_out) / (n_in * n_out)``, kernel dimensions left out.

Both Erdős–Rényi forms scale every density by one factor; a layer that would exceed
density 1 is made dense and the factor is found again for the others (the iterative
fix of Evci et al.'s reference), which is exactly :func:`apportion` with each layer's
size as its cap. Layers excluded by a method (first conv, classifier) are not among the
layers shared out: they stay dense and the target holds over the others.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Literal

import torch

from methods.masks import kept_count, random_masks, topk_masks

Distribution = Literal["global", "uniform", "erk", "er"]


def apportion(total: int, weights: Sequence[float], caps: Sequence[int] | None = None) -> list[int]:
    """Split ``total`` into integers proportional to ``weights`` with ``part[i] <= caps[i]``.

    A share that would exceed its cap is fixed at the cap and the rest is shared again
    among the others (water filling). Fractions are resolved by largest remainder, ties
    to the lower index. Where all remaining weights are zero, the rest is shared
    equally. Raises ValueError when the caps cannot hold ``total``.
    """
    n = len(weights)
    caps = list(caps) if caps is not None else [total] * n
    if total < 0 or any(w < 0 or not math.isfinite(w) for w in weights):
        raise ValueError(f"apportion needs total >= 0 and finite weights >= 0, got {total}, {list(weights)}")
    if total > sum(caps):
        raise ValueError(f"cannot place {total} in layers that hold only {sum(caps)} more")
    parts = [0] * n
    open_ = [i for i in range(n) if caps[i] > 0]
    rest = total
    while open_ and rest > 0:
        w = {i: float(weights[i]) for i in open_}
        if sum(w.values()) <= 0:
            w = dict.fromkeys(open_, 1.0)
        weight_sum = sum(w.values())
        shares = {i: rest * (w[i] / weight_sum) for i in open_}
        full = [i for i in open_ if shares[i] >= caps[i]]
        if full:
            for i in full:
                parts[i] = caps[i]
                rest -= caps[i]
            open_ = [i for i in open_ if i not in full]
            continue
        for i in open_:
            parts[i] = math.floor(shares[i])
        left = rest - sum(parts[i] for i in open_)
        by_remainder = sorted(open_, key=lambda i: (-(shares[i] - parts[i]), i))
        for i in by_remainder[:left]:
            parts[i] += 1
        rest = 0
    return parts


def apportion_spill_equally(total: int, weights: Sequence[float], caps: Sequence[int]) -> list[int]:
    """Split ``total`` in proportion to ``weights``; what a share holds beyond its cap is
    shared equally among the parts that still have room (water filling, so a part
    that fills up passes its surplus on again).

    :func:`apportion` re-shares a surplus in proportion to the weights instead. Raises
    ValueError when the caps cannot hold ``total``.
    """
    if total > sum(caps):
        raise ValueError(f"cannot place {total} in layers that hold only {sum(caps)} more")
    parts = [min(p, c) for p, c in zip(apportion(total, weights), caps, strict=True)]
    room = [c - p for p, c in zip(parts, caps, strict=True)]
    extra = apportion(total - sum(parts), [1.0] * len(parts), caps=room)
    return [p + e for p, e in zip(parts, extra, strict=True)]


def uniform_counts(sizes: Sequence[int], sparsity: float) -> list[int]:
    """Kept counts with the same density in every layer (as near as integers allow) and
    exactly ``kept_count(sum(sizes), sparsity)`` in all."""
    return apportion(kept_count(sum(sizes), sparsity), list(sizes), caps=list(sizes))


def erdos_renyi_counts(shapes: Sequence[Sequence[int]], sparsity: float) -> list[int]:
    """Erdős–Rényi-kernel (ERK) kept counts: a layer's density is proportional to
    ``sum(shape) / prod(shape)`` (so small layers stay denser), capped at dense, with
    exactly ``kept_count(total, sparsity)`` kept in all (Evci et al. 2020)."""
    sizes = [math.prod(s) for s in shapes]
    # density * size = eps * sum(shape): the shares are proportional to sum(shape)
    return apportion(kept_count(sum(sizes), sparsity), [float(sum(s)) for s in shapes], caps=sizes)


erk_counts = erdos_renyi_counts


def er_counts(shapes: Sequence[Sequence[int]], sparsity: float) -> list[int]:
    """Erdős–Rényi (ER) kept counts: a layer's density is proportional to
    ``(n_in + n_out) / (n_in * n_out)`` with ``n_out, n_in = shape[:2]`` (PyTorch's
    layout), whatever its kernel, capped at dense, with exactly ``kept_count(total,
    sparsity)`` kept in all (Mocanu et al. 2018, as Evci et al. 2020 apply it to convs)."""
    sizes = [math.prod(s) for s in shapes]
    # density * size = eps * (n_in + n_out) * prod(kernel)
    weights = [float(sum(s[:2]) * math.prod(s[2:])) for s in shapes]
    return apportion(kept_count(sum(sizes), sparsity), weights, caps=sizes)


def layer_counts(distribution: Distribution, shapes: Sequence[Sequence[int]],
                 sparsity: float) -> list[int] | None:
    """Kept counts per layer under ``distribution`` (None for ``"global"``, where the
    scores decide); ``"erdos_renyi"`` is accepted as the older name of ``"erk"``."""
    if distribution == "global":
        return None
    if distribution == "uniform":
        return uniform_counts([math.prod(s) for s in shapes], sparsity)
    if distribution in ("erk", "erdos_renyi"):
        return erk_counts(shapes, sparsity)
    if distribution == "er":
        return er_counts(shapes, sparsity)
    raise ValueError(f"distribution = {distribution!r} is not allowed; "
                     "use 'global', 'uniform', 'erk' or 'er'")


def distribution_masks(scores: Mapping[str, torch.Tensor], sparsity: float,
                       distribution: Distribution, *, magnitude: bool = False) -> dict[str, torch.Tensor]:
    """Masks keeping the largest ``scores`` (``|scores|`` with ``magnitude``) at
    ``sparsity``: one ranking over all layers for ``"global"``, else each layer keeps
    its :func:`layer_counts` share."""
    counts = layer_counts(distribution, [tuple(s.shape) for s in scores.values()], sparsity)
    if counts is None:
        return topk_masks(scores, kept_count(sum(s.numel() for s in scores.values()), sparsity),
                          magnitude=magnitude)
    return {name: topk_masks({name: s}, count, magnitude=magnitude)[name]
            for (name, s), count in zip(scores.items(), counts, strict=True)}


def random_distribution_masks(shapes: Mapping[str, torch.Size], sparsity: float, distribution: Distribution,
                              generator: torch.Generator) -> dict[str, torch.Tensor]:
    """A uniformly random mask at ``sparsity`` spread by ``distribution`` (CPU tensors):
    exact per-layer counts, or for ``"global"`` one draw over all positions of all layers."""
    counts = layer_counts(distribution, [tuple(s) for s in shapes.values()], sparsity)
    if counts is not None:
        return random_masks(shapes, dict(zip(shapes, counts, strict=True)), generator)
    draws = {name: torch.rand(math.prod(shape), generator=generator).view(shape)
             for name, shape in shapes.items()}
    return distribution_masks(draws, sparsity, "global")
