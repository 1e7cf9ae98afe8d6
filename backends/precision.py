"""The numerics of a training run: precision, TF32 and ``torch.compile``.

``precision`` is what a spec asks for in its backend table: ``fp32``, ``bf16`` or
``auto``. :func:`resolve` turns it into what a run uses on its device: ``auto`` is
``bf16`` where the device computes bf16 natively (AVX512-BF16 or AMX on the CPU, CUDA
compute capability 8.0 "Ampere" or newer) and ``fp32`` elsewhere. ``bf16`` is mixed
precision: the forward pass and the loss run under ``torch.autocast`` while the
weights (DPF's dense weights too), their gradients, the optimizer state, masks, mask
scores and thresholds stay fp32, and evaluation and the sparsity count run in fp32.
bf16 asked for on a CPU without native bf16 still runs (emulated, slow), with a
warning.

TF32 (CUDA only) lets fp32 matrix products and convolutions use TensorFloat-32 units;
it is on unless a backend table sets ``tf32 = false``.

:class:`CompileGuard` runs the training forward through ``torch.compile`` and, when
compiling fails, warns once and trains on without it instead of failing the run.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from suite.errors import SuiteError
from suite.provenance import cpu_capability

#: The dtype that autocast computes in, by resolved precision.
AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


class EmulatedBf16Warning(UserWarning):
    """bf16 was asked for on a CPU that has no native bf16 instructions."""


class CompileFallbackWarning(UserWarning):
    """``torch.compile`` failed; the run trains without it."""


@functools.lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags from /proc/cpuinfo (empty where there is none)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("flags", "Features")):
                return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def _torch_cpu_check(name: str) -> bool | None:
    check = getattr(torch.cpu, name, None)
    if check is None:
        return None
    try:
        return bool(check())
    except RuntimeError:
        return None


def cpu_native_bf16() -> bool:
    """True when the CPU has bf16 instructions (AVX512-BF16 or AMX tiles)."""
    checks = [_torch_cpu_check("_is_avx512_bf16_supported"), _torch_cpu_check("_is_amx_tile_supported")]
    if any(checks):
        return True
    if all(c is False for c in checks):
        return False
    return bool({"avx512_bf16", "amx_bf16"} & cpu_flags())


def native_bf16(device: torch.device) -> bool:
    """True when ``device`` computes bf16 natively (CPU: AVX512-BF16/AMX; CUDA: sm_80+)."""
    if device.type == "cuda":
        return torch.cuda.get_device_capability(device) >= (8, 0)
    if device.type == "cpu":
        return cpu_native_bf16()
    return False


def check_cell(cell: Any, precision: str, backend: str) -> None:
    """Refuse a cell whose precision (part of its id) is not the backend's ``precision``:
    the cell was planned from another backend's table (``suite run --backend``)."""
    wanted = getattr(cell, "precision", "fp32")
    if wanted != precision:
        raise SuiteError(
            f"cell {cell.id} asks for precision = {wanted!r} (its id includes it), but "
            f"[backend.{backend}] has precision = {precision!r}; set precision = {wanted!r} "
            f"in [backend.{backend}] too, so that the run computes what its id says")


def resolve(requested: str, device: torch.device) -> str:
    """The precision a run uses on ``device`` for the ``requested`` one (``auto``: bf16
    where native, else fp32). bf16 on a CPU without native bf16 is kept, with a warning."""
    if requested == "auto":
        return "bf16" if native_bf16(device) else "fp32"
    if requested == "bf16" and device.type == "cpu" and not cpu_native_bf16():
        warnings.warn(f"precision = 'bf16' on a CPU without native bf16 ({cpu_capability()}, no "
                      "AVX512-BF16 or AMX): bf16 is emulated and slower than fp32; use "
                      "precision = 'auto' to train in fp32 here", EmulatedBf16Warning, stacklevel=2)
    return requested


def autocast(device: torch.device, precision: str) -> AbstractContextManager:
    """The context the forward pass and the loss run in: autocast for bf16/fp16, else none."""
    dtype = AUTOCAST_DTYPES.get(precision)
    if dtype is None:
        return nullcontext()
    return torch.autocast(device.type, dtype=dtype)


def set_tf32(device: torch.device, enabled: bool) -> bool | None:
    """Let CUDA fp32 matrix products and convolutions use TF32 (or not); None off CUDA."""
    if device.type != "cuda":
        return None
    mode = "tf32" if enabled else "ieee"
    matmul = torch.backends.cuda.matmul
    if hasattr(matmul, "fp32_precision"):
        matmul.fp32_precision = mode
        torch.backends.cudnn.conv.fp32_precision = mode
    else:  # torch before the fp32_precision settings
        matmul.allow_tf32 = enabled
        torch.backends.cudnn.allow_tf32 = enabled
    return enabled


#: The first compile failure of this process: later runs skip compiling, without a warning.
_COMPILE_FAILED: list[str] = []


class CompileGuard:
    """The model's training forward through ``torch.compile``, or the model itself.

    :meth:`run` executes one forward-and-backward closure on the compiled module; when it
    raises, the model's buffers (batch-norm statistics) and the CPU RNG are put back as
    they were, one :class:`CompileFallbackWarning` is issued (per process), and the
    closure runs again on the plain module, which every later step uses. Parameters are
    not touched before the optimizer step, so the retried step is the step an
    uncompiled run takes. ``enabled`` tells whether compile is still in use;
    ``error`` the failure that ended it.
    """

    def __init__(self, model: nn.Module, requested: bool) -> None:
        self.model = model
        self.requested = requested
        self.error: str | None = None
        self.compiled: Any = None
        if requested and _COMPILE_FAILED:
            self.error = _COMPILE_FAILED[0]
        elif requested:
            try:
                self.compiled = torch.compile(model)
            except Exception as exc:  # noqa: BLE001 - any failure means: train without it
                self._fail(exc)

    @property
    def enabled(self) -> bool:
        return self.compiled is not None

    def _fail(self, exc: BaseException) -> None:
        self.compiled = None
        first = (str(exc).strip().splitlines() or [""])[0]
        self.error = f"{type(exc).__name__}: {first}" if first else type(exc).__name__
        if not _COMPILE_FAILED:
            _COMPILE_FAILED.append(self.error)
            warnings.warn(f"torch.compile failed ({self.error}); training without compile "
                          "(compile = false in the result's provenance)", CompileFallbackWarning,
                          stacklevel=3)

    def run(self, step: Callable[[nn.Module], torch.Tensor]) -> torch.Tensor:
        """``step(module)`` on the compiled module, falling back to the plain one."""
        if self.compiled is None:
            return step(self.model)
        buffers = [b.detach().clone() for b in self.model.buffers()]
        rng = torch.get_rng_state()
        try:
            return step(self.compiled)
        except Exception as exc:  # noqa: BLE001 - retried without compile; a real error recurs
            with torch.no_grad():
                for b, saved in zip(self.model.buffers(), buffers, strict=True):
                    b.copy_(saved)
            torch.set_rng_state(rng)
            self._fail(exc)
            return step(self.model)


@dataclass
class RunNumerics:
    """How one run computes: the precision asked for and the one used, TF32 (None off
    CUDA) and the compile guard of its model."""

    requested: str
    precision: str
    tf32: bool | None
    compiler: CompileGuard

    def text(self) -> str:
        """E.g. 'precision=bf16 (auto) compile=off', for the run's log."""
        asked = f" ({self.requested})" if self.requested != self.precision else ""
        tf32 = "" if self.tf32 is None else f" tf32={'on' if self.tf32 else 'off'}"
        return f"precision={self.precision}{asked}{tf32} compile={'on' if self.compiler.enabled else 'off'}"

    def provenance(self) -> dict[str, Any]:
        """The keys a result's provenance gets: precision (used), precision_requested,
        tf32, compile (in use at the end), compile_requested, compile_error."""
        return {"precision": self.precision, "precision_requested": self.requested,
                "tf32": self.tf32, "compile": self.compiler.enabled,
                "compile_requested": self.compiler.requested, "compile_error": self.compiler.error}
