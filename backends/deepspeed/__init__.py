"""The DeepSpeed backend (``deepspeed``): one (cell, seed) trained by a real
``deepspeed.initialize`` engine on many GPUs and nodes, data parallel.

The runner and the store stay single-process. The parent (:mod:`.backend`) writes the
job into ``<run_dir>/deepspeed/``, starts the ``deepspeed`` launcher on :mod:`.worker`,
follows the progress that rank 0 reports, waits, and returns the result record rank 0
wrote; everything the two sides exchange goes through the files of :mod:`.protocol`.
On each rank :mod:`.trainer` runs the shared training loop on a DeepSpeed engine, with
the fp32 master weights and their partitions under ZeRO in :mod:`.master`, the ranks'
data in :mod:`.data` and batch norm over ranks in :mod:`.batchnorm`; :mod:`.recipe`
refuses before launching what DeepSpeed cannot do as the torch backend does, and
:mod:`.options` holds ``[backend.deepspeed]`` and the batch rule.

Batch and learning rate: ``[train] batch_size`` is the *global* batch whatever the
number of ranks; each rank trains on ``batch_size / world_size`` samples per step
(``micro_batch_size`` smaller than that accumulates gradients) and gradients are
averaged over ranks, so a step is the torch backend's step on the same global batch.
``[train] lr`` is the learning rate of that global batch and does not change with the
number of ranks; ``lr_scaling = "linear"`` scales it by ``batch_size / 256`` (Goyal et
al.), again independently of the rank count.

Importing this package (``import backends`` does) registers the backend without
importing DeepSpeed, an optional dependency: only the ranks and ``fit`` import it.
"""

from __future__ import annotations

from backends.deepspeed.backend import WORKER_MODULE, DeepSpeedBackend
from backends.deepspeed.options import DeepSpeedOptions

__all__ = ["WORKER_MODULE", "DeepSpeedBackend", "DeepSpeedOptions"]
