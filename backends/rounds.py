"""Runs of several rounds (:meth:`methods.Method.rounds`, lottery tickets): the part of
:class:`backends.training.Trainer` that counts them.

A run of ``R`` rounds trains the recipe ``R`` times. ``Trainer.round`` (1-based) is the
round in progress, ``Trainer.epoch`` and ``Trainer.batch`` the position within it; the
checkpoint keeps all three, so a resumed run continues in its round with the method's
masks and rewind state, and a run stopped after a round's last epoch starts the next
round on resume exactly as it would have without the stop. Between rounds the method's
:meth:`~methods.Method.next_round` prunes and rewinds, then the optimizer is made anew
(the learning-rate schedule restarts with the step count). Epoch ``e`` of round ``r``
draws data epoch ``(r - 1) * epochs + e``. Progress and TensorBoard count the steps of
all rounds. Curve entries carry ``"round"`` only in runs of more than one round, so
single-round records are as before.
"""

from __future__ import annotations

from typing import Any

from backends.optim import create_optimizer


class Rounds:
    """Round bookkeeping of a :class:`~backends.training.Trainer` (set in its ``build``:
    ``rounds``, ``round``)."""

    rounds: int = 1
    round: int = 1

    def round_offset(self) -> int:
        """Optimizer steps of the rounds before this one."""
        return (self.round - 1) * self.total_steps

    def global_step(self) -> int:
        """Steps done in the whole run (every round's)."""
        return self.round_offset() + self.epoch * self.steps_per_epoch + self.batch

    def data_epoch(self) -> int:
        """The data epoch that epoch ``self.epoch`` of this round draws."""
        return (self.round - 1) * self.cell.train.epochs + self.epoch

    def round_postfix(self) -> dict[str, str]:
        """The progress bar's round field (none for a single round)."""
        return {"round": f"{self.round}/{self.rounds}"} if self.rounds > 1 else {}

    def round_text(self) -> str:
        return f" of round {self.round}/{self.rounds}" if self.rounds > 1 else ""

    def tag_round(self, entry: dict[str, Any]) -> dict[str, Any]:
        """A curve entry with its round, in runs of more than one round."""
        return {**entry, "round": self.round} if self.rounds > 1 else entry

    def start_next_round(self) -> None:
        """The method prunes and rewinds; the next round starts with a fresh optimizer."""
        self.round += 1
        self.method.next_round(self.round, self.model)
        self.restart_optimizer()
        self.epoch, self.batch = 0, 0
        self.log(f"round {self.round}/{self.rounds}: sparsity {self.current_sparsity():.6f}")

    def restart_optimizer(self) -> None:
        """A fresh optimizer for a new round (the step count, hence the schedule, restarts)."""
        self.optimizer = create_optimizer(self.model.parameters(), self.cell.train)
