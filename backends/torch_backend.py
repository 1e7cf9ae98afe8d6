"""The single-device PyTorch backend (``torch``): cuda when available, else cpu."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch

from backends.base import BACKENDS, Backend, Progress
from backends.training import Trainer


def resolve_device(choice: str) -> torch.device:
    """``auto`` picks cuda when available, else cpu; ``cuda`` without a GPU is an error."""
    from suite.errors import SuiteError

    if choice == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if choice == "cuda" and not torch.cuda.is_available():
        raise SuiteError("--device cuda was asked for, but no CUDA device is available; "
                         "use --device cpu or auto")
    return torch.device(choice)


@dataclass(frozen=True)
class TorchOptions:
    """``[backend.torch]``: execution knobs (not part of cell ids)."""

    device: Literal["auto", "cpu", "cuda"] = "auto"
    channels_last: bool = True
    threads: int = 0

    def validate(self) -> str | None:
        if self.threads < 0:
            return f"threads = {self.threads} must be >= 0 (0 keeps torch's default)"
        return None


@BACKENDS.register("torch")
class TorchBackend(Backend):
    """Train on one device with plain PyTorch."""

    name = "torch"
    Options = TorchOptions

    def describe(self) -> str:
        return f"torch on {resolve_device(self.options.device)}"

    def fit(self, cell: Any, seed: int, run_dir: Path, progress: Progress) -> dict[str, Any]:
        if self.options.threads:
            torch.set_num_threads(self.options.threads)
        device = resolve_device(self.options.device)
        trainer = Trainer(cell, seed, run_dir, device, channels_last=self.options.channels_last)
        return trainer.fit(progress)
