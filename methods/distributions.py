"""*How much per layer*: integer allocations of a kept (or regrown) count across layers.

Pure functions on sizes and weights. :func:`apportion` is the one primitive: a total
split in proportion to weights, each share capped, rounded by largest remainder, so
the parts always add up to the total exactly.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from methods.masks import kept_count


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
    """Erdős–Rényi(-kernel) kept counts: a layer's density is proportional to
    ``sum(shape) / prod(shape)`` (so small layers stay denser), capped at dense, with
    exactly ``kept_count(total, sparsity)`` kept in all (Mocanu et al.; Evci et al.)."""
    sizes = [math.prod(s) for s in shapes]
    return apportion(kept_count(sum(sizes), sparsity), [float(sum(s)) for s in shapes], caps=sizes)
