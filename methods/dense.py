"""Dense training: the baseline of every table. No masks; ignores the sparsity axis."""

from __future__ import annotations

from methods.base import METHODS, Method
from methods.mask_modes import NONE


@METHODS.register("dense")
class Dense(Method):
    """Train the full model with the shared recipe; prunable weights stay dense."""

    name = "dense"
    label = "Dense"
    uses_sparsity = False
    mask_mode = NONE
