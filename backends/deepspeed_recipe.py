"""The recipe on DeepSpeed: each ``[train]`` field with the torch backend's meaning, or
a clear refusal before anything is launched.

- ``optimizer``: the recipe's torch optimizer (:func:`backends.optim.create_optimizer`)
  is handed to ``deepspeed.initialize`` as the client optimizer, so SGD and AdamW are
  the same classes with the same hyperparameters as on one device (DeepSpeed's own
  ``optimizer`` config section is not used). AdamW runs with ``zero_stage = 0`` only:
  under ZeRO stage 1 or 2 the masks reach the partitioned fp32 master weights and
  SGD's momentum (:mod:`backends.deepspeed_master`), not AdamW's two moments, and the
  checkpoints hold SGD's state format; AdamW with ZeRO is refused. As ZeRO is what bf16
  and fp16 need, AdamW on DeepSpeed trains in fp32.
- ``grad_clip``: DeepSpeed's ``gradient_clipping``, the same global-norm rule
  (``max_norm / (norm + 1e-6)`` when below 1) on the gradient of the global batch
  (averaged over ranks and accumulated micro-batches). With ZeRO stage 0 it acts after
  the method's ``before_optimizer_step``, as on one device. With ZeRO stage 1 or 2 the
  gradients are reduced into partitions before a method can zero those of pruned
  weights (the master is masked after the step instead), so the norm would count the
  pruned weights' gradients: refused for methods whose hard masks zero gradients (every
  hard-mask method but sparse momentum, whose gradients stay dense); dense, DPF and
  sparse momentum clip under ZeRO as on one device.
- ``schedule``, ``label_smoothing`` and ``val_fraction``: the shared loop's
  (:func:`suite.recipes.lr_at`, :func:`backends.optim.training_loss`,
  :mod:`backends.validation`), so nothing differs.
"""

from __future__ import annotations

from typing import Any

from methods import METHODS
from suite.errors import SpecError


def check_recipe(cell: Any, zero_stage: int) -> None:
    """Raise SpecError, naming the key, the value and what to change, for a recipe field
    that DeepSpeed with ``zero_stage`` cannot honour with the torch backend's meaning."""
    recipe = cell.train
    if zero_stage and recipe.optimizer == "adamw":
        raise SpecError(f"[train] optimizer = 'adamw' with [backend.deepspeed] zero_stage = {zero_stage}: "
                        "under ZeRO stage 1 or 2 masks act on the partitioned SGD momentum only, not on "
                        "AdamW's moments; use zero_stage = 0 (fp32) or optimizer = 'sgd'")
    method = METHODS.get(cell.method)
    if zero_stage and recipe.grad_clip and method.mask_mode == "hard" and method.masks_gradients:
        raise SpecError(f"[train] grad_clip = {recipe.grad_clip} with method {cell.method!r} and "
                        f"[backend.deepspeed] zero_stage = {zero_stage}: ZeRO clips the gradients before "
                        "the pruned weights' gradients can be zeroed, so the norm would differ from the "
                        "torch backend's; use zero_stage = 0, or grad_clip = 0")


def recipe_config(recipe: Any) -> dict[str, Any]:
    """The part of the DeepSpeed config that the recipe sets."""
    return {"gradient_clipping": float(recipe.grad_clip)}
