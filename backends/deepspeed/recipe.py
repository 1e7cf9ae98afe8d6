"""The recipe on DeepSpeed: each ``[train]`` field with the torch backend's meaning, or
a clear refusal before anything is launched (one case, below). Methods that read the
dense gradients (``reads_gradients``: RigL) are refused too: their hooks would see each
rank's gradients before the ranks average them. Methods of more than one round (``Method.rounds``:
lottery tickets) are refused as well: a new round needs a fresh optimizer, and the
DeepSpeed engine owns the optimizer it was built with.

- ``optimizer``: the recipe's torch optimizer (:func:`backends.optim.create_optimizer`)
  is handed to ``deepspeed.initialize`` as the client optimizer, so SGD and AdamW are
  the same classes with the same hyperparameters as on one device (DeepSpeed's own
  ``optimizer`` config section is not used). Under ZeRO stage 1 or 2 the masks reach
  the partitioned master weights and the optimizer's per-weight state, SGD's momentum
  or AdamW's two moments (:mod:`backends.deepspeed.master`), and checkpoints hold the
  torch optimizer's state format.
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
    method = METHODS.get(cell.method)
    if method.reads_gradients:
        raise SpecError(f"method {cell.method!r} reads the dense gradients at its mask updates, and "
                        "the DeepSpeed backend calls its hooks on each rank's gradients before they "
                        "are averaged, so the ranks would grow different masks; run it on the torch "
                        "backend")
    rounds = method.rounds(cell.method_options, cell.sparsity)
    if rounds > 1:
        raise SpecError(f"method {cell.method!r} trains {rounds} rounds at sparsity {cell.sparsity:g}, each "
                        "with a fresh optimizer, and the DeepSpeed backend cannot restart the optimizer "
                        "its engine was built with; run it on the torch backend")
    if zero_stage and recipe.grad_clip and method.zeroes_pruned_gradients():
        raise SpecError(f"[train] grad_clip = {recipe.grad_clip} with method {cell.method!r} and "
                        f"[backend.deepspeed] zero_stage = {zero_stage}: ZeRO clips the gradients before "
                        "the pruned weights' gradients can be zeroed, so the norm would differ from the "
                        "torch backend's; use zero_stage = 0, or grad_clip = 0")


def recipe_config(recipe: Any) -> dict[str, Any]:
    """The part of the DeepSpeed config that the recipe sets."""
    return {"gradient_clipping": float(recipe.grad_clip)}
