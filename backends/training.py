"""The training loop shared by backends: build, train with a method's masks, evaluate,
checkpoint every epoch, resume, and assemble the result record.

A backend subclasses :class:`Trainer` to change how a step is executed (DeepSpeed wraps
the model in an engine); the method cycle and the bookkeeping stay here.

Numerics (:mod:`backends.precision`): the cell's ``precision`` is resolved on the
device when the run starts and kept in the checkpoint, so a resumed run keeps the
precision it started with; the forward pass and the loss run under autocast for bf16,
everything else (weights, gradients, optimizer state, masks, evaluation) in fp32.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn

from backends import precision as numerics
from backends.artifacts import CHECKPOINT, atomic_save, checkpoint_precision, result_record
from backends.base import Progress, RunFailed
from backends.events import EventLog
from backends.optim import clip_gradients, create_optimizer, training_loss
from backends.validation import build_loaders, check_resumed_split, score, val_metrics
from methods import Method, MethodContext, create_method
from suite import interrupt
from suite.data import create_dataset
from suite.models import create_model
from suite.models.checkpoint import start_model
from suite.models.macs import layer_macs
from suite.recipes import lr_at

#: A run fails when its mean training loss exceeds this many times ln(classes), the loss
#: of a uniform guess: far past anything a run that is still learning reaches.
DIVERGENCE_FACTOR = 3.0
#: Steps between loss checks (each check waits for the device).
LOSS_CHECK_EVERY = 16


class Trainer:
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
        self.train_loader, self.test_loader, self.val_loader = loaders.train, loaders.test, loaders.val
        self.holdout, self.data_provenance = loaders.holdout, dataset.provenance()
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
        self.epoch = 0  # epochs completed
        self.batch = 0  # batches of epoch `self.epoch` completed
        self.epoch_loss = torch.zeros((), device=self.device)  # their summed loss
        self.curve: list[dict[str, Any]] = []
        self.train_seconds = 0.0

    def loss_fn(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The training loss (the recipe's label smoothing; evaluation uses plain CE)."""
        return training_loss(logits, y, self.cell.train)

    # ----- checkpoints ---------------------------------------------------------------
    @property
    def checkpoint_path(self) -> Path:
        return self.run_dir / CHECKPOINT

    def checkpoint_state(self) -> dict[str, Any]:
        """Everything a resume needs, at a step boundary: model, optimizer, method state
        (masks, flips, its own state), RNG states, the position in the epoch's data order
        (which itself is a function of (seed, epoch)) and the epoch's running loss."""
        return {
            "epoch": self.epoch, "batch": self.batch, "epoch_loss": self.epoch_loss,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(), "method": self.method.state_dict(),
            "curve": self.curve, "train_seconds": self.train_seconds, "precision": self.precision,
            "holdout": self.holdout.record() if self.holdout is not None else None,
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
        }

    def save_checkpoint(self) -> None:
        atomic_save(self.checkpoint_state(), self.checkpoint_path)

    def try_resume(self) -> bool:
        """Load the last checkpoint if there is one; True when resumed."""
        if not self.checkpoint_path.exists():
            return False
        self.load_checkpoint_state(torch.load(self.checkpoint_path, map_location=self.device,
                                              weights_only=False))
        return True

    def load_checkpoint_state(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`checkpoint_state` returned."""
        check_resumed_split(state.get("holdout"), self.holdout)
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.method.load_state_dict(state["method"])
        self.epoch, self.curve = state["epoch"], state["curve"]
        self.batch, self.epoch_loss = state["batch"], state["epoch_loss"].to(self.device)
        self.train_seconds = state["train_seconds"]
        torch.set_rng_state(state["torch_rng"])
        if state.get("cuda_rng") is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda_rng"])

    # ----- the loop ------------------------------------------------------------------
    def train_step(self, x: torch.Tensor, y: torch.Tensor, step: int) -> torch.Tensor:
        """One optimizer step through the method cycle; returns the loss (detached)."""
        for group in self.optimizer.param_groups:
            group["lr"] = lr_at(self.cell.train, step, self.total_steps)
        self.method.before_forward(self.model)

        def forward_backward(module: nn.Module) -> torch.Tensor:
            with numerics.autocast(self.device, self.precision):
                loss = self.loss_fn(module(x), y)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            return loss

        loss = self.numerics.compiler.run(forward_backward)
        self.method.before_optimizer_step(self.model, self.optimizer)
        clip_gradients(self.model.parameters(), self.cell.train)  # where and why: backends.optim
        self.optimizer.step()
        try:
            self.method.after_optimizer_step(step + 1, self.model, self.optimizer)
        except Exception:
            self.check_finite(loss.detach(), step + 1)  # a NaN loss explains a failing mask update
            raise
        return loss.detach()

    def check_finite(self, loss: torch.Tensor, step: int) -> None:
        """End the run as failed, naming the loss, when the loss so far or the weights are
        no longer finite at ``step`` (a mask update then fails only as a consequence)."""
        value = float(loss + self.epoch_loss)
        if not math.isfinite(value):
            raise RunFailed(f"training loss became {value} in epoch {self.epoch + 1} (step {step})",
                            self._partial())
        if not all(bool(torch.isfinite(p).all()) for p in self.model.parameters()):
            raise RunFailed(f"training diverged in epoch {self.epoch + 1}: the weights became "
                            f"non-finite at step {step} (loss {float(loss):.3g})", self._partial())

    def train_epoch(self, progress: Progress) -> float:
        """Train the rest of epoch ``self.epoch`` (from batch ``self.batch``); return its
        mean loss. Stops at a step boundary, after a checkpoint, when a stop is requested."""
        self.model.train()
        step = self.epoch * self.steps_per_epoch + self.batch
        for i, (x, y) in enumerate(self.train_loader.epoch(self.epoch)):
            if i < self.batch:
                continue  # done before the interruption; drawing it keeps the RNG in step
            self.epoch_loss += self.train_step(x, y, step)
            step += 1
            self.batch += 1
            if self.batch % LOSS_CHECK_EVERY == 0:
                self.check_loss(self.epoch_loss / self.batch)
            progress.advance(1, epoch=f"{self.epoch + 1}/{self.cell.train.epochs}")
            if interrupt.requested():
                self.save_checkpoint()
                raise interrupt.Interrupted
        mean = float(self.epoch_loss) / max(self.batch, 1)
        self.check_loss(mean)
        return mean

    def check_loss(self, mean_loss: torch.Tensor | float) -> None:
        """End the run as failed on a NaN/infinite loss or a diverging one: a mean training
        loss above ``DIVERGENCE_FACTOR`` times that of a uniform guess, ln(classes)."""
        value = float(mean_loss)
        limit = DIVERGENCE_FACTOR * math.log(self.info.num_classes)
        if not math.isfinite(value):
            raise RunFailed(f"training loss became {value} in epoch {self.epoch + 1}",
                            self._partial())
        if value > limit:
            raise RunFailed(f"training diverged in epoch {self.epoch + 1}: mean loss {value:.3g} > "
                            f"{DIVERGENCE_FACTOR:g} x ln({self.info.num_classes}) = {limit:.3g}",
                            self._partial())

    def validate(self) -> dict[str, float]:
        """``val_top1`` and ``val_loss`` on the validation set; {} without one."""
        return {} if self.val_loader is None else val_metrics(self.evaluate(self.val_loader))

    @torch.no_grad()
    def evaluate(self, loader: Any = None) -> dict[str, float]:
        """top-1 (top-5 above 10 classes) and the mean loss of the masked model on
        ``loader`` (default: the test set)."""
        self.model.eval()
        with self.method.masked(self.model):
            return score(self.model, self.test_loader if loader is None else loader,
                         self.info.num_classes)

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
        self.events.epoch(entry, end, [f for f in self.method.flips if start < f["step"] <= end])

    def setup_method(self) -> None:
        """Let the method install its initial masks (SNIP scores the first batch)."""
        first = next(iter(self.train_loader.epoch(0)))
        self.method.setup(self.model, first, self.loss_fn)

    def fit(self, progress: Progress) -> dict[str, Any]:
        started = time.time()
        self.build()
        resumed = self.try_resume()
        if not resumed:
            self.setup_method()
        self.log(f"{'resume at epoch ' + str(self.epoch) if resumed else 'start'} "
                 f"cell={self.cell.id} seed={self.seed} device={self.device} {self.numerics.text()}")
        epochs = self.cell.train.epochs
        self.events = EventLog(self.run_dir, self.epoch * self.steps_per_epoch if resumed else None)
        progress.start(self.total_steps, f"{self.cell.method}/{self.cell.model}/{self.cell.dataset}"
                                         f" s={self.cell.sparsity:g} seed={self.seed}")
        progress.advance(self.epoch * self.steps_per_epoch + self.batch)
        try:
            while self.epoch < epochs:
                t0 = time.perf_counter()
                train_loss = self.train_epoch(progress)
                self.method.on_epoch_end(self.epoch, self.model, self.optimizer)
                self.train_seconds += time.perf_counter() - t0
                metrics = {**self.evaluate(), **self.validate()}
                self.epoch, self.batch = self.epoch + 1, 0
                self.epoch_loss = torch.zeros((), device=self.device)
                self.curve.append({"epoch": self.epoch, "train_loss": train_loss, **metrics,
                                   "lr": self.optimizer.param_groups[0]["lr"],
                                   "sparsity": self.current_sparsity()})
                self.log(json.dumps(self.curve[-1]))
                self.write_events(self.curve[-1])
                progress.advance(0, epoch=f"{self.epoch}/{epochs}", top1=f"{metrics['top1']:.1f}")
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
