"""The four axes every grid has, and how tables print a sparsity."""

from __future__ import annotations

AXES = ("method", "model", "dataset", "sparsity")


def sparsity_text(value: float) -> str:
    """A sparsity as tables print it: 0.9 -> '90%', 0.995 -> '99.5%'."""
    return f"{100 * float(value):g}%"
