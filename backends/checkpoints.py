"""A run's checkpoint: everything a resume needs, saved at a step boundary.

:class:`Checkpoints` is the part of :class:`backends.training.Trainer` that saves and
restores it: the round (:mod:`backends.rounds`), the model, the optimizer, the method's
state (masks, flips, its own state), the RNG states, the position in the epoch's data
order (itself a function of (seed, epoch)), the epoch's running loss, the curve and the
precision the run started with. A backend's trainer adds what it keeps elsewhere
(DeepSpeed: the fp32 master and every rank's generators) by overriding these methods.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from backends.artifacts import CHECKPOINT, atomic_save
from backends.validation import check_resumed_split


class Checkpoints:
    """Saving and loading the checkpoint of a :class:`~backends.training.Trainer`'s run."""

    @property
    def checkpoint_path(self) -> Path:
        return self.run_dir / CHECKPOINT

    def checkpoint_state(self) -> dict[str, Any]:
        """Everything a resume needs, at a step boundary: model, optimizer, method state
        (masks, flips, its own state), RNG states, the position in the epoch's data order
        (which itself is a function of (seed, epoch)) and the epoch's running loss."""
        return {
            "round": self.round, "epoch": self.epoch, "batch": self.batch, "epoch_loss": self.epoch_loss,
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
        self.round, self.epoch, self.curve = state.get("round", 1), state["epoch"], state["curve"]
        self.batch, self.epoch_loss = state["batch"], state["epoch_loss"].to(self.device)
        self.train_seconds = state["train_seconds"]
        torch.set_rng_state(state["torch_rng"])
        if state.get("cuda_rng") is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda_rng"])
