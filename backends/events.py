"""TensorBoard event files of a run, written with the standard writer under
``<run dir>/events/``, so that ``tensorboard --logdir results/runs`` shows every run:
per epoch the training loss, test loss, top-1 (and top-5), learning rate and sparsity,
and the flip ratio of every mask update at its step.

A resumed run purges the events from its resume step on, so an epoch logged just
before a kill is not shown twice. Without the ``tensorboard`` package nothing is
written, with one warning per process (``pip install 'pruning-suite[tensorboard]'``).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

#: Curve keys and their TensorBoard tags.
TAGS = {"train_loss": "train/loss", "lr": "train/lr", "top1": "test/top1", "top5": "test/top5",
        "test_loss": "test/loss", "sparsity": "mask/sparsity"}
_warned = [False]


class EventLog:
    """The event file writer of one run, opened on first use."""

    def __init__(self, run_dir: Path, resume_step: int | None = None) -> None:
        self.folder = Path(run_dir) / "events"
        self.resume_step = resume_step
        self._writer: Any = None

    def _open(self) -> Any:
        if self._writer is None:
            try:
                from torch.utils.tensorboard import SummaryWriter  # needs the tensorboard package
            except ImportError:
                if not _warned[0]:
                    _warned[0] = True
                    warnings.warn("tensorboard is not installed: runs write no event files "
                                  "(pip install 'pruning-suite[tensorboard]')", stacklevel=3)
                return None
            self._writer = SummaryWriter(str(self.folder), purge_step=self.resume_step)
        return self._writer

    def epoch(self, entry: dict[str, Any], step: int, flips: list[dict[str, float]]) -> None:
        """Log one curve ``entry`` at optimizer ``step`` and the mask updates in ``flips``."""
        writer = self._open()
        if writer is None:
            return
        for key, tag in TAGS.items():
            if entry.get(key) is not None:
                writer.add_scalar(tag, float(entry[key]), step)
        for flip in flips:
            writer.add_scalar("mask/flip_ratio", float(flip["flip_ratio"]), int(flip["step"]))
        writer.flush()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
