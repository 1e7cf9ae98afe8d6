"""The single-device PyTorch backend (``torch``): cuda when available, else cpu."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch

from backends import precision as numerics
from backends.base import BACKENDS, Backend, Progress
from backends.training import Trainer
from suite.errors import SuiteError


def resolve_device(choice: str) -> torch.device:
    """``auto`` picks cuda when available, else cpu; ``cuda`` without a GPU is an error."""
    if choice == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if choice == "cuda" and not torch.cuda.is_available():
        raise SuiteError("--device cuda was asked for, but no CUDA device is available; "
                         "use --device cpu or auto")
    return torch.device(choice)


@dataclass(frozen=True)
class TorchOptions:
    """``[backend.torch]``: execution knobs. None is part of cell ids except ``precision``.

    ``device``: auto (cuda when available), cpu or cuda. ``channels_last``: NHWC
    tensors. ``threads``: torch threads (0 keeps torch's default). ``precision``: fp32
    (default), bf16 (autocast over fp32 weights; emulated with a warning on a CPU
    without bf16 instructions) or auto (bf16 where the device has it natively, else
    fp32); a cell's id includes it unless fp32. ``compile``: run the training forward
    through ``torch.compile`` (a failure falls back to eager with one warning).
    ``tf32``: TF32 matrix products and convolutions on CUDA (on by default).
    """

    device: Literal["auto", "cpu", "cuda"] = "auto"
    channels_last: bool = True
    threads: int = 0
    precision: Literal["fp32", "bf16", "auto"] = "fp32"
    compile: bool = False
    tf32: bool = True

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
        o = self.options
        return (f"torch on {resolve_device(o.device)}, {o.precision}"
                + (", compile" if o.compile else ""))

    def fit(self, cell: Any, seed: int, run_dir: Path, progress: Progress) -> dict[str, Any]:
        numerics.check_cell(cell, self.options.precision, self.name)
        if self.options.threads:
            torch.set_num_threads(self.options.threads)
        device = resolve_device(self.options.device)
        o = self.options
        trainer = Trainer(cell, seed, run_dir, device, channels_last=o.channels_last,
                          compile=o.compile, tf32=o.tf32)
        return trainer.fit(progress)
