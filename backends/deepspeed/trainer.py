"""The rank side of a DeepSpeed run: the shared training loop (:mod:`backends.training`)
with the step executed by a ``deepspeed.initialize`` engine, the data cut into ranks'
shares, metrics summed over ranks, masks checked across ranks, and rank 0 writing.
DeepSpeed itself is imported where the engine is made (it is an optional dependency)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

from backends.artifacts import atomic_save
from backends.base import RunFailed
from backends.cycle import method_step
from backends.deepspeed.batchnorm import convert_batchnorm
from backends.deepspeed.data import rank_loaders, rank_val_loader
from backends.deepspeed.master import DirectMaster, PartitionedMaster, mask_checksum
from backends.deepspeed.options import DeepSpeedOptions, check_batch
from backends.deepspeed.protocol import JobFolder
from backends.deepspeed.recipe import check_recipe, recipe_config
from backends.training import Trainer
from backends.validation import Loaders, eval_batch
from suite import interrupt
from suite.recipes import lr_at

#: Test hook: the rank named here flips one mask entry at its first mask check, so the
#: check across ranks has a mismatch to find.
CORRUPT_ENV = "SUITE_DEEPSPEED_CORRUPT_MASK_RANK"
#: Steps between the agreements on a requested stop (also at every epoch's end).
STOP_CHECK_EVERY = 16


class DeepSpeedTrainer(Trainer):
    """The shared training loop with the step executed by a DeepSpeed engine.

    Each global batch is the torch backend's (same order and augmentation) and each
    rank trains on its share (:mod:`backends.deepspeed.data`); the loss is averaged over
    ranks, so the curve and the divergence checks agree everywhere. The method runs on
    every rank on the synchronized parameters; after each mask change a checksum of the
    masks is compared across ranks and a mismatch fails the run.
    """

    def __init__(self, cell: Any, seed: int, run_dir: Path, device: torch.device,
                 options: DeepSpeedOptions, job_dir: Path) -> None:
        super().__init__(cell, seed, run_dir, device, channels_last=options.channels_last,
                         tf32=options.tf32)
        self.options, self.job = options, JobFolder(job_dir)
        self.rank, self.world = dist.get_rank(), dist.get_world_size()
        self.is_main = self.rank == 0
        self._checked_masks: Any = None
        self._corrupt = os.environ.get(CORRUPT_ENV) == str(self.rank)

    # ----- construction --------------------------------------------------------------
    def build(self) -> None:
        check_recipe(self.cell, self.options.zero_stage)
        o = self.options
        self.rank_batch, self.accumulation = check_batch(self.cell.train.batch_size, self.world,
                                                         o.micro_batch_size)
        self.micro_batch = self.rank_batch // self.accumulation
        super().build()
        self.model = convert_batchnorm(self.model, o.batchnorm, self.device, self.precision != "fp32")

    def build_data(self, dataset: Any, loaders: Loaders) -> Loaders:
        """This rank's share of every global batch (:mod:`backends.deepspeed.data`)."""
        kw = {"test_batch": eval_batch(self.cell.train), "seed": self.seed, "device": self.device,
              "channels_last": self.channels_last, "rank": self.rank, "world": self.world}
        train, test = rank_loaders(dataset, loaders.train, loaders.test, rank_batch=self.rank_batch,
                                   holdout=loaders.holdout, **kw)
        return Loaders(train, test, rank_val_loader(dataset, loaders.val, loaders.holdout, **kw),
                       loaders.holdout)

    def wrap(self, model: torch.nn.Module, optimizer: Any) -> tuple[torch.nn.Module, Any]:
        """The engine, made after the method's setup (SNIP backpropagates the global first
        batch, identical on every rank, on the bare module) so that DeepSpeed's gradient
        hooks see none of it; the method and the loop then see the module and the master's
        view of the optimizer (:mod:`backends.deepspeed.master`)."""
        import deepspeed

        model.zero_grad(set_to_none=True)
        self.engine, zero, _, _ = deepspeed.initialize(
            model=model, optimizer=optimizer, config=self.ds_config(), dist_init_required=False)
        if self.options.zero_stage == 0:
            self.master: DirectMaster | PartitionedMaster = DirectMaster(zero)
        else:
            self.master = PartitionedMaster(zero, model, self.cell.train)
        self.dtype = next(model.parameters()).dtype
        return model, self.master.view

    def resolve_precision(self) -> str:
        """The shared resolution, agreed on by all ranks: ``auto`` is bf16 only when it is
        bf16 on every rank (the engine's precision must be the same everywhere)."""
        mine = super().resolve_precision()
        if self.requested_precision != "auto":
            return mine
        flag = torch.tensor([1.0 if mine == "bf16" else 0.0], device=self.device)
        dist.all_reduce(flag, op=dist.ReduceOp.MIN)
        return "bf16" if float(flag) > 0 else "fp32"

    def ds_config(self) -> dict[str, Any]:
        o = self.options
        return {
            "train_batch_size": self.cell.train.batch_size,
            "train_micro_batch_size_per_gpu": self.micro_batch,
            "gradient_accumulation_steps": self.accumulation,
            "zero_optimization": {"stage": o.zero_stage},
            "zero_allow_untested_optimizer": True,  # the recipe's torch optimizer (SGD, AdamW)
            "bf16": {"enabled": self.precision == "bf16"},
            "fp16": {"enabled": self.precision == "fp16", "loss_scale": 0, "initial_scale_power": 16},
            **recipe_config(self.cell.train),  # gradient clipping: backends.deepspeed.recipe
            "steps_per_print": 2**31 - 1,
            "wall_clock_breakdown": False,
        }

    # ----- masks across ranks --------------------------------------------------------
    def sync_masks(self, where: str) -> None:
        """Write back momentum edits, and after a mask change: compare the masks'
        checksums across ranks (a mismatch fails the run), then mask the master."""
        self.master.flush()
        masks = self.method.masks
        if masks is self._checked_masks:
            return
        self._checked_masks = masks
        if self._corrupt and masks:
            self._corrupt = False
            name = sorted(masks)[0]
            masks[name].view(-1)[0] ^= True
        mine = torch.tensor([mask_checksum(masks), sum(int(m.sum()) for m in masks.values())],
                            dtype=torch.int64, device=self.device)
        every = [torch.zeros_like(mine) for _ in range(self.world)]
        dist.all_gather(every, mine)
        sums = [tuple(int(v) for v in t.tolist()) for t in every]
        if any(s != sums[0] for s in sums):
            detail = ", ".join(f"rank {r}: crc {c:08x}, {k} kept" for r, (c, k) in enumerate(sums))
            raise RunFailed(f"the masks differ between ranks {where} ({detail}); a method must decide "
                            "masks from synchronized values and (seed, step) randomness only",
                            self._partial())
        if self.method.mask_mode.zeroes_weights:
            self.master.mask_master(masks, self.method.params, self.method.zeroes_pruned_gradients())

    # ----- the loop ------------------------------------------------------------------
    def train_step(self, x: torch.Tensor, y: torch.Tensor, step: int) -> torch.Tensor:
        """One global step: forward/backward of this rank's share in micro-batches, each
        followed by ``engine.step()`` as DeepSpeed wants (it updates only at the last,
        the accumulation boundary, with gradients averaged over ranks), through the
        method's hooks. Returns the loss averaged over ranks and micro-batches."""
        self.sync_masks(f"before step {step + 1}")
        lr = lr_at(self.cell.train, step, self.total_steps)
        for group in self.engine.optimizer.param_groups:
            group["lr"] = lr

        def micro_pass(xm: torch.Tensor, ym: torch.Tensor) -> Callable[[], torch.Tensor]:
            def run() -> torch.Tensor:
                loss = self.loss_fn(self.engine(xm.to(self.dtype)).float(), ym)
                self.engine.backward(loss)
                return loss
            return run

        def update(last: bool) -> None:
            self.engine.step()
            if last:
                self.master.step_done()

        passes = [micro_pass(xm, ym) for xm, ym in
                  zip(x.split(self.micro_batch), y.split(self.micro_batch), strict=True)]
        total = method_step(self.method, self.model, self.optimizer, step, passes, update).clone()
        self.sync_masks(f"after step {step + 1}")
        dist.all_reduce(total)
        if (step + 1) % STOP_CHECK_EVERY == 0 or (step + 1) % self.steps_per_epoch == 0:
            self.agree_on_stop()
        return total / (self.world * self.accumulation)

    def agree_on_stop(self) -> None:
        """Stop on every rank at this step when the parent asked rank 0 to."""
        flag = torch.tensor([float(self.is_main and self.job.stop_requested())], device=self.device)
        dist.all_reduce(flag)
        if float(flag) > 0:
            interrupt.request()

    @torch.no_grad()
    def evaluate(self, loader: Any = None) -> dict[str, float]:
        """Each rank scores its slice of the test set (or of ``loader``'s), with the masks
        checked across ranks first; the sums are added over ranks (:meth:`reduce_metrics`)."""
        self.sync_masks("before evaluation")
        if self.options.batchnorm == "local":
            self.average_buffers()
        return super().evaluate(loader)

    def reduce_metrics(self, sums: torch.Tensor) -> torch.Tensor:
        dist.all_reduce(sums)
        return sums

    @torch.no_grad()
    def average_buffers(self) -> None:
        """With ``batchnorm = "local"`` each rank's running statistics come from its own
        slices: evaluate (and store) their mean."""
        for b in self.model.buffers():
            if b.is_floating_point():
                dist.all_reduce(b)
                b.div_(self.world)

    # ----- checkpoints and outputs (rank 0 writes) -----------------------------------
    def checkpoint_state(self) -> dict[str, Any]:
        self.sync_masks("at the checkpoint")
        state = super().checkpoint_state()
        state["model"] = self.master.model_state(self.model)
        rng: list[Any] = [None] * self.world  # every rank's generators (dropout differs by rank)
        cuda = torch.cuda.get_rng_state(self.device) if self.device.type == "cuda" else None
        dist.all_gather_object(rng, (torch.get_rng_state(), cuda))
        state["rank_rng"] = rng
        return state

    def save_checkpoint(self) -> None:
        state = self.checkpoint_state()
        if self.is_main:
            atomic_save(state, self.checkpoint_path)
        dist.barrier()

    def load_checkpoint_state(self, state: dict[str, Any]) -> None:
        super().load_checkpoint_state(state)
        self.master.load_model_state(state["model"], self.model)
        rng = state.get("rank_rng")
        if rng is not None and len(rng) == self.world:
            cpu, cuda = rng[self.rank]
            torch.set_rng_state(cpu)
            if cuda is not None and self.device.type == "cuda":
                torch.cuda.set_rng_state(cuda, self.device)

    def save_outputs(self) -> None:
        if self.is_main:
            super().save_outputs()

    def log(self, line: str) -> None:
        if self.is_main:
            super().log(line)

    def write_events(self, entry: dict[str, Any]) -> None:
        if self.is_main:
            super().write_events(entry)

    def finish(self, started: float) -> dict[str, Any]:
        self.sync_masks("at the end")
        self.master.to_fp32(self.model)  # the stored and measured model is the fp32 master
        self.dtype = next(self.model.parameters()).dtype
        return super().finish(started)

    def provenance_extra(self) -> dict[str, Any]:
        return {"backend": "deepspeed", "deepspeed_run": {
            "world_size": self.world, "zero_stage": self.options.zero_stage,
            "precision": self.precision, "batchnorm": self.options.batchnorm,
            "batch_per_rank": self.rank_batch,
            "micro_batch": self.micro_batch, "gradient_accumulation": self.accumulation,
            "comm_backend": dist.get_backend()}}
