"""``[backend.deepspeed]``: the options of a DeepSpeed launch, and the rules on the
global batch that both the parent and the ranks apply (no DeepSpeed needed)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from suite.errors import SuiteError


def _knob(default: Any) -> Any:
    return field(default=default, metadata={"identity": False})


@dataclass(frozen=True)
class DeepSpeedOptions:
    """``[backend.deepspeed]``: how a run is launched (execution knobs; only ``precision``
    is part of cell ids, and only when it is not fp32).

    ``num_gpus``: ranks per node (the launcher's ``--num_gpus``); 0 lets the launcher
    take every GPU of each node (one rank on a machine without GPUs). On a CPU-only
    machine it is the number of CPU ranks. ``num_nodes``: 0 uses every host of the
    hostfile (this machine alone without one). ``hostfile``: an MPI-style file of
    ``host slots=N`` lines. ``master_addr``/``master_port``: the rendezvous (empty / 0:
    the launcher's address and a free port). ``zero_stage``: 0, 1 or 2. ``precision``:
    ``fp32``, ``bf16``, ``fp16`` or ``auto`` with the torch backend's meaning (``auto``:
    bf16 when every rank's device has native bf16, else fp32); bf16 and fp16 keep fp32
    master weights in the ZeRO optimizer and need ZeRO stage 1 or 2, and so does
    ``auto``. ``tf32``: TF32 products and convolutions on CUDA ranks.
    ``micro_batch_size``: samples per rank per forward pass; 0 means ``batch_size /
    world_size`` (no gradient accumulation). ``batchnorm``: ``sync`` normalizes with the
    statistics of the whole global batch (a step is then the torch backend's step, at
    any rank count), ``local`` with each rank's own (faster, but they change with the
    number of ranks). ``threads``: torch threads per rank on the
    CPU (0: the cores divided by the ranks of the node). ``launcher_args``: extra
    arguments for the ``deepspeed`` launcher (e.g. ``["--include", "node1:0,1"]``).
    """

    num_gpus: int = _knob(0)
    num_nodes: int = _knob(0)
    hostfile: str = _knob("")
    master_addr: str = _knob("")
    master_port: int = _knob(0)
    zero_stage: Literal[0, 1, 2] = _knob(0)
    precision: Literal["fp32", "bf16", "fp16", "auto"] = _knob("fp32")
    tf32: bool = _knob(True)
    micro_batch_size: int = _knob(0)
    batchnorm: Literal["sync", "local"] = _knob("sync")
    channels_last: bool = _knob(True)
    threads: int = _knob(0)
    launcher_args: tuple[str, ...] = _knob(())

    def validate(self) -> str | None:
        for key in ("num_gpus", "num_nodes", "micro_batch_size", "threads"):
            if getattr(self, key) < 0:
                return f"{key} = {getattr(self, key)} must be >= 0"
        if not 0 <= self.master_port <= 65535:
            return f"master_port = {self.master_port} must lie in 0..65535 (0 picks a free port)"
        if self.precision != "fp32" and self.zero_stage == 0:
            picks = " (which may pick bf16)" if self.precision == "auto" else ""
            return (f"precision = {self.precision!r}{picks} needs zero_stage = 1 or 2: DeepSpeed's stage-0 "
                    "mixed-precision optimizers keep fp32 master copies that masks cannot reach; "
                    "stage 1 keeps the same weights on every rank and only partitions the "
                    "optimizer state")
        return None

    def world_size(self) -> int | None:
        """The number of ranks when it is known before launching, else None."""
        if not self.hostfile:
            return self.num_gpus or None
        slots = hostfile_slots(Path(self.hostfile))
        if self.num_nodes:
            slots = slots[: self.num_nodes]
        if self.num_gpus:
            return self.num_gpus * len(slots)
        return sum(slots) or None


def hostfile_slots(path: Path) -> list[int]:
    """Slots per host of an MPI-style hostfile (``host slots=N``; comments with ``#``)."""
    try:
        lines = path.read_text().splitlines()
    except OSError as exc:
        raise SuiteError(f"[backend.deepspeed] hostfile = {str(path)!r} cannot be read: {exc}") from None
    slots = []
    for line in lines:
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        parts = dict(p.split("=", 1) for p in line.split()[1:] if "=" in p)
        try:
            slots.append(int(parts["slots"]))
        except (KeyError, ValueError):
            raise SuiteError(f"{path}: line {line!r} must look like 'hostname slots=N'") from None
    return slots


def check_batch(batch_size: int, world: int, micro_batch_size: int = 0) -> tuple[int, int]:
    """``(per-rank batch, gradient accumulation steps)`` for a global ``batch_size`` on
    ``world`` ranks, or a SuiteError saying what to change."""
    if batch_size % world:
        raise SuiteError(
            f"[train] batch_size = {batch_size} cannot be split evenly over {world} DeepSpeed ranks: "
            "the global batch stays the spec's batch size whatever the number of ranks, so choose "
            "num_gpus x nodes dividing it (or a batch size divisible by the rank count)")
    per_rank = batch_size // world
    micro = micro_batch_size or per_rank
    if per_rank % micro:
        raise SuiteError(f"[backend.deepspeed] micro_batch_size = {micro_batch_size} must divide the "
                         f"per-rank batch {per_rank} (= batch_size {batch_size} / {world} ranks)")
    return per_rank, per_rank // micro

