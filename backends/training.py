"""The training loop shared by backends: build, train with a method's masks, evaluate,
checkpoint every epoch, resume, and assemble the result record.

A backend subclasses :class:`Trainer` to change how a step is executed (DeepSpeed wraps
the model in an engine); the method cycle (:func:`backends.cycle.method_step`) and the
bookkeeping stay here. The seams a distributed trainer overrides: :meth:`Trainer.build_data`
(its share of the data), :meth:`Trainer.wrap` (the model and optimizer it executes, made
after the method's setup), :meth:`Trainer.train_step`, :meth:`Trainer.reduce_metrics`
(evaluation sums over its processes) and :meth:`Trainer.provenance_extra`.

Numerics (:mod:`backends.precision`): the cell's ``precision`` is resolved on the
device when the run starts and kept in the checkpoint, so a resumed run keeps the
precision it started with; the forward pass and the loss run under autocast for bf16,
everything else (weights, gradients, optimizer state, masks, evaluation) in fp32.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn

from backends import precision as numerics
from backends.artifacts import checkpoint_precision, result_record
from backends.base import Progress
from backends.checkpoints import Checkpoints
from backends.cycle import method_step
from backends.divergence import LOSS_CHECK_EVERY, check_finite, check_loss
from backends.events import EventLog
from backends.optim import clip_gradients, create_optimizer, training_loss
from backends.rounds import Rounds
from backends.validation import (
    Loaders,
    build_loaders,
    metrics_of,
    score_sums,
    val_metrics,
)
from methods import Method, MethodContext, create_method
from suite import interrupt
from suite.data import create_dataset
from suite.models import create_model
from suite.models.checkpoint import start_model
from suite.models.macs import layer_macs
from suite.recipes import lr_at


class Trainer(Checkpoints, Rounds):
    """One run of one cell and seed on one device.

    ``compile`` runs the training forward through ``torch.compile`` (falling back to the
    plain module with one warning when that fails); ``tf32`` lets CUDA fp32 products
    use TF32. The precision is the cell's (``cell.precision``, part of its id).
    """

    def __init__(self, cell: Any, seed: int, run_dir: Path, device: torch.device, *,
                 channels_last: bool = False, compile: bool = False, tf32: bool = True) -> None:
        self.cell, self.seed, self.run_dir, self.device = cell, seed, Path(run_dir), device
        self.channels_last = channels_last
        self.compile_requested, self.tf32_requested = compile, tf32
        self.run_dir.mkdir(parents=True, exist_ok=True)

    @property
    def precision(self) -> str:
        """The precision this run computes in (resolved in :meth:`build`)."""
        return self.numerics.precision

    @property
    def requested_precision(self) -> str:
        """The precision the cell asks for: fp32, bf16 or auto (fp16 on DeepSpeed)."""
        return getattr(self.cell, "precision", "fp32")

    def resolve_precision(self) -> str:
        """The precision of this run: the checkpoint's when resuming an ``auto`` run (a run
        keeps the precision it started with), else the cell's resolved on the device."""
        requested = self.requested_precision
        if requested == "auto":
            requested = checkpoint_precision(self.checkpoint_path) or requested
        return numerics.resolve(requested, self.device)

    # ----- construction --------------------------------------------------------------
    def build(self) -> None:
        cell, recipe = self.cell, self.cell.train
        precision, tf32 = self.resolve_precision(), numerics.set_tf32(self.device, self.tf32_requested)
        dataset = create_dataset(cell.dataset, cell.dataset_options)
        self.info = dataset.info()
        loaders = build_loaders(dataset, recipe, self.seed, self.device, self.channels_last)
        self.holdout, self.data_provenance = loaders.holdout, dataset.provenance()
        self.setup_loader = loaders.train  # the method's setup sees the run's first (global) batch
        mine = self.build_data(dataset, loaders)
        self.train_loader, self.test_loader, self.val_loader = mine.train, mine.test, mine.val
        torch.manual_seed(self.seed)
        model = create_model(cell.model, self.info, cell.model_options)
        self.model_start = start_model(model, cell.model, cell.model_options, self.run_dir,
                                       resume=self.checkpoint_path.exists())
        self.macs = layer_macs(model, self.info.image_shape)
        model = model.to(self.device)
        if self.channels_last:
            model = model.to(memory_format=torch.channels_last)
        self.model: nn.Module = model
        self.numerics = numerics.RunNumerics(self.requested_precision, precision, tf32,
                                             numerics.CompileGuard(model, self.compile_requested))
        self.steps_per_epoch = len(self.train_loader)
        self.total_steps = self.steps_per_epoch * recipe.epochs
        self.optimizer = create_optimizer(model.parameters(), recipe)
        ctx = MethodContext(cell.sparsity, self.total_steps, self.steps_per_epoch, self.seed, recipe)
        self.method: Method = create_method(cell.method, cell.method_options, ctx)
        self.method.bind(model)
        self.rounds, self.round = self.method.rounds(self.method.options, cell.sparsity), 1
        self.epoch = 0  # epochs completed (of round `self.round`)
        self.batch = 0  # batches of epoch `self.epoch` completed
        self.epoch_loss = torch.zeros((), device=self.device)  # their summed loss
        self.curve: list[dict[str, Any]] = []
        self.train_seconds = 0.0
        self.dtype: torch.dtype | None = None  # what evaluation casts inputs to (None: as they come)

    def build_data(self, dataset: Any, loaders: Loaders) -> Loaders:
        """The loaders this process trains and evaluates on, given the run's (``loaders``,
        over the global batch): those themselves; a process of many takes its share."""
        return loaders

    def wrap(self, model: nn.Module, optimizer: Any) -> tuple[nn.Module, Any]:
        """The model and optimizer the loop and the method see, made once the method is set
        up (and before a checkpoint is loaded): these themselves on one device."""
        return model, optimizer

    def start(self) -> bool:
        """Build the run; set up the method (a new run); wrap the model and optimizer; load
        the checkpoint (a resumed run). True when resumed."""
        self.build()
        resuming = self.checkpoint_path.exists()
        if not resuming:
            self.setup_method()
        self.model, self.optimizer = self.wrap(self.model, self.optimizer)
        return self.try_resume() if resuming else False

    def loss_fn(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The training loss (the recipe's label smoothing; evaluation uses plain CE)."""
        return training_loss(logits, y, self.cell.train)

    # ----- the loop ------------------------------------------------------------------
    def train_step(self, x: torch.Tensor, y: torch.Tensor, step: int) -> torch.Tensor:
        """One optimizer step through the method cycle; returns the loss (detached)."""
        for group in self.optimizer.param_groups:
            group["lr"] = lr_at(self.cell.train, step, self.total_steps)

        def forward_backward(module: nn.Module) -> torch.Tensor:
            with numerics.autocast(self.device, self.precision):
                loss = self.loss_fn(module(x), y)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            return loss

        def update(last: bool) -> None:
            clip_gradients(self.model.parameters(), self.cell.train)  # where and why: backends.optim
            self.optimizer.step()

        return method_step(self.method, self.model, self.optimizer, step,
                           [lambda: self.numerics.compiler.run(forward_backward)], update,
                           failed=lambda loss: self.check_finite(loss, step + 1))

    def check_finite(self, loss: torch.Tensor, step: int) -> None:
        """Fail when the loss so far or the weights are no longer finite at ``step``."""
        check_finite(loss, self.epoch_loss, self.model.parameters(), self.epoch, step, self._partial())

    def train_epoch(self, progress: Progress) -> float:
        """Train the rest of epoch ``self.epoch`` (from batch ``self.batch``); return its
        mean loss. Stops at a step boundary, after a checkpoint, when a stop is requested."""
        self.model.train()
        step = self.epoch * self.steps_per_epoch + self.batch
        for i, (x, y) in enumerate(self.train_loader.epoch(self.data_epoch())):
            if i < self.batch:
                continue  # done before the interruption; drawing it keeps the RNG in step
            self.epoch_loss += self.train_step(x, y, step)
            step += 1
            self.batch += 1
            if self.batch % LOSS_CHECK_EVERY == 0:
                self.check_loss(self.epoch_loss / self.batch)
            progress.advance(1, epoch=f"{self.epoch + 1}/{self.cell.train.epochs}", **self.round_postfix())
            if interrupt.requested():
                self.save_checkpoint()
                raise interrupt.Interrupted
        mean = float(self.epoch_loss) / max(self.batch, 1)
        self.check_loss(mean)
        return mean

    def check_loss(self, mean_loss: torch.Tensor | float) -> None:
        """Fail on a mean training loss that is not finite or diverges."""
        check_loss(mean_loss, self.info.num_classes, self.epoch, self._partial())

    def validate(self) -> dict[str, float]:
        """``val_top1`` and ``val_loss`` on the validation set; {} without one."""
        return {} if self.val_loader is None else val_metrics(self.evaluate(self.val_loader))

    @torch.no_grad()
    def evaluate(self, loader: Any = None) -> dict[str, float]:
        """top-1 (top-5 above 10 classes) and the mean loss of the masked model on
        ``loader`` (default: the test set)."""
        self.model.eval()
        with self.method.masked(self.model):
            sums = score_sums(self.model, self.test_loader if loader is None else loader, self.dtype)
        return metrics_of(self.reduce_metrics(sums), self.info.num_classes)

    def reduce_metrics(self, sums: torch.Tensor) -> torch.Tensor:
        """The evaluation sums of the whole (:func:`backends.validation.score_sums`), given
        this process's: these themselves on one device."""
        return sums

    def current_sparsity(self) -> float:
        masks = self.method.masks
        if not masks:
            return 0.0
        kept = sum(int(torch.count_nonzero(m)) for m in masks.values())
        return 1.0 - kept / sum(m.numel() for m in masks.values())

    def _partial(self) -> dict[str, Any]:
        return {"epochs_done": self.epoch, "curve": self.curve,
                "last": self.curve[-1] if self.curve else None}

    def log(self, line: str) -> None:
        with open(self.run_dir / "log.txt", "a", encoding="utf-8") as fh:
            fh.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {line}\n")

    def write_events(self, entry: dict[str, Any]) -> None:
        """TensorBoard events of the epoch that just ended (``entry``) and of the mask
        updates made during it."""
        end = self.epoch * self.steps_per_epoch
        start = end - self.steps_per_epoch
        flips = [f for f in self.method.flips if start < f["step"] <= end]
        self.events.epoch(entry, self.round_offset() + end, flips)

    def setup_method(self) -> None:
        """Let the method install its initial masks (SNIP scores the first batch, the
        run's whole first batch on every process)."""
        first = next(iter(self.setup_loader.epoch(0)))
        self.method.setup(self.model, first, self.loss_fn)

    def fit(self, progress: Progress) -> dict[str, Any]:
        started = time.time()
        resumed = self.start()
        self.log(f"{'resume at epoch ' + str(self.epoch) + self.round_text() if resumed else 'start'} "
                 f"cell={self.cell.id} seed={self.seed} device={self.device} {self.numerics.text()}")
        epochs = self.cell.train.epochs
        self.events = EventLog(self.run_dir, self.round_offset() + self.epoch * self.steps_per_epoch
                               if resumed else None)
        progress.start(self.rounds * self.total_steps,
                       f"{self.cell.method}/{self.cell.model}/{self.cell.dataset}"
                       f" s={self.cell.sparsity:g} seed={self.seed}")
        progress.advance(self.global_step())
        try:
            while self.epoch < epochs or self.round < self.rounds:
                if self.epoch == epochs:
                    self.start_next_round()
                t0 = time.perf_counter()
                train_loss = self.train_epoch(progress)
                self.method.on_epoch_end(self.epoch, self.model, self.optimizer)
                self.train_seconds += time.perf_counter() - t0
                metrics = {**self.evaluate(), **self.validate()}
                self.epoch, self.batch = self.epoch + 1, 0
                self.epoch_loss = torch.zeros((), device=self.device)
                self.curve.append(self.tag_round({"epoch": self.epoch, "train_loss": train_loss, **metrics,
                                                  "lr": self.optimizer.param_groups[0]["lr"],
                                                  "sparsity": self.current_sparsity()}))
                self.log(json.dumps(self.curve[-1]))
                self.write_events(self.curve[-1])
                progress.advance(0, epoch=f"{self.epoch}/{epochs}", **self.round_postfix(),
                                 top1=f"{metrics['top1']:.1f}")
                self.save_checkpoint()
                if interrupt.requested():
                    raise interrupt.Interrupted
        finally:
            progress.close()
            self.events.close()
        return self.finish(started)

    def save_outputs(self) -> None:
        """Write the final model (``model.pt``) and the curve (``curve.json``)."""
        torch.save(self.model.state_dict(), self.run_dir / "model.pt")
        (self.run_dir / "curve.json").write_text(json.dumps(self.curve, indent=1))

    def finish(self, started: float) -> dict[str, Any]:
        """Finalize the masks, evaluate, write the outputs; return the result record."""
        self.method.finalize(self.model)
        final = {**self.evaluate(), **self.validate()}
        self.save_outputs()
        return result_record(self, final, started)

    def provenance_extra(self) -> dict[str, Any]:
        """Fields a backend adds to the record's ``provenance`` (after the common ones)."""
        return {}
