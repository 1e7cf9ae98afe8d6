"""Where and with what a run was made: package versions, git commit, device, host, the
CPU model and the instruction set torch uses on it, the GPU model."""

from __future__ import annotations

import functools
import platform
import socket
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

import torch

import suite


def _version(pkg: str) -> str | None:
    try:
        return metadata.version(pkg)
    except metadata.PackageNotFoundError:
        return None


@functools.lru_cache(maxsize=1)
def git_commit() -> str | None:
    """The commit of the source tree suite runs from (with '+dirty'), if it is a checkout."""
    root = Path(suite.__file__).resolve().parent.parent
    try:
        sha = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True,
                             text=True, timeout=5, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return sha + ("+dirty" if dirty else "") if sha else None


@functools.lru_cache(maxsize=1)
def cpu_name() -> str:
    """The CPU's model name (from /proc/cpuinfo on Linux), else what platform knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_capability() -> str:
    """The CPU instruction set torch dispatches to, as ``torch.backends.cpu.get_cpu_capability()``
    reports it (e.g. ``AVX2``, ``AVX512``)."""
    try:
        return str(torch.backends.cpu.get_cpu_capability())
    except (AttributeError, RuntimeError):
        return "unknown"


def gpu_name(device: torch.device) -> str | None:
    """The GPU model of ``device`` (None off CUDA)."""
    return torch.cuda.get_device_name(device) if device.type == "cuda" else None


def device_name(device: torch.device) -> str:
    """A human-readable name of ``device`` (GPU model, or the CPU's)."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return cpu_name()


def provenance(device: torch.device) -> dict[str, Any]:
    """The provenance block of a result record (the backend adds how the run computed:
    precision, TF32, compile)."""
    return {
        "suite": suite.__version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torchvision": _version("torchvision"),
        "deepspeed": _version("deepspeed"),
        "git_commit": git_commit(),
        "host": socket.gethostname(),
        "platform": platform.platform(),
        "device": str(device),
        "device_name": device_name(device),
        "threads": torch.get_num_threads(),
        "cpu_name": cpu_name(),
        "cpu_capability": cpu_capability(),
        "gpu_name": gpu_name(device),
    }
