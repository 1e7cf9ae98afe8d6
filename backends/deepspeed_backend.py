"""The DeepSpeed backend (``deepspeed``): one (cell, seed) trained by a real
``deepspeed.initialize`` engine on many GPUs and nodes, data parallel.

The runner and the store stay single-process. :meth:`DeepSpeedBackend.fit` writes the
job (pickled cell, seed, options) into ``<run_dir>/deepspeed/``, starts the
``deepspeed`` launcher on :mod:`backends.deepspeed_worker`, follows the progress that
rank 0 appends to ``progress.jsonl``, waits, and returns the result record rank 0 wrote
to ``result.json``. A rank that fails writes ``failed-rank<r>.json``; that, or a launcher
that exits without a result, raises :class:`RunFailed` with the tail of ``launch.log``.

Batch and learning rate: ``[train] batch_size`` is the *global* batch whatever the
number of ranks; each rank trains on ``batch_size / world_size`` samples per step
(``micro_batch_size`` smaller than that accumulates gradients) and gradients are
averaged over ranks, so a step is the torch backend's step on the same global batch.
``[train] lr`` is the learning rate of that global batch and does not change with the
number of ranks; ``lr_scaling = "linear"`` scales it by ``batch_size / 256`` (Goyal et
al.), again independently of the rank count.
"""

from __future__ import annotations

import json
import os
import pickle
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from backends import precision as numerics
from backends.base import BACKENDS, Backend, Progress, RunFailed
from backends.deepspeed_recipe import check_recipe
from suite import interrupt
from suite.errors import SuiteError

#: Files under ``<run_dir>/deepspeed/``.
JOB, RESULT, PROGRESS, STOP, INTERRUPTED, LOG = (
    "job.pkl", "result.json", "progress.jsonl", "stop", "interrupted", "launch.log")
JOB_FORMAT = 1
#: The module the launcher starts on every rank.
WORKER_MODULE = "backends.deepspeed_worker"
POLL_SECONDS = 0.2


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


def free_port() -> int:
    """A TCP port that is free on this machine right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("", 0))
        return int(s.getsockname()[1])


#: Where DeepSpeed's CPU all-reduce keeps its buffers, and their names' prefix.
SHM_DIR = Path("/dev/shm")
SHM_PREFIX = "deepspeed_allreduce_buffer_"


def remove_shm_buffers(port: int, shm_dir: Path = SHM_DIR) -> list[Path]:
    """Remove the CPU all-reduce buffers that this machine's ranks of the job on ``port``
    left behind, and return them.

    DeepSpeed's shared-memory all-reduce on CPU ranks creates one buffer per local rank,
    ``deepspeed_allreduce_buffer_<n>_<master addr>_<master port>_<rank>`` (about 67 MB
    each), and does not unlink them, so every launch would leave them in /dev/shm until
    it fills. The master port tells this job's buffers from those of a job still running.
    """
    removed = []
    for path in shm_dir.glob(f"{SHM_PREFIX}*"):
        parts = path.name.rsplit("_", 2)
        if len(parts) == 3 and parts[1] == str(port) and parts[2].isdigit():
            try:
                path.unlink()
                removed.append(path)
            except OSError:  # another user's, or gone already
                pass
    return removed


def launcher() -> list[str]:
    """The ``deepspeed`` launcher of this Python environment."""
    script = Path(sys.executable).parent / "deepspeed"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "deepspeed.launcher.runner"]


def log_tail(path: Path, lines: int = 30) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    return "\n".join(text[-lines:])


class ProgressFollower:
    """Replays the JSON lines rank 0 appends to ``progress.jsonl`` on a Progress."""

    def __init__(self, path: Path, progress: Progress) -> None:
        self.path, self.progress, self.offset, self.pending = path, progress, 0, ""

    def poll(self) -> None:
        try:
            with open(self.path, encoding="utf-8") as fh:
                fh.seek(self.offset)
                chunk = fh.read()
                self.offset = fh.tell()
        except FileNotFoundError:
            return
        *lines, self.pending = (self.pending + chunk).split("\n")
        for line in lines:
            event = json.loads(line)
            if "start" in event:
                self.progress.start(event["start"], event["description"])
            elif "advance" in event:
                self.progress.advance(event["advance"], **event.get("postfix", {}))


@BACKENDS.register("deepspeed")
class DeepSpeedBackend(Backend):
    """Train each (cell, seed) as one job of the ``deepspeed`` launcher; rank 0 reports."""

    name = "deepspeed"
    Options = DeepSpeedOptions

    def describe(self) -> str:
        o = self.options
        nodes = f"{o.num_nodes} node(s)" if o.num_nodes else ("the hostfile's nodes" if o.hostfile
                                                               else "this machine")
        ranks = f"{o.num_gpus} ranks each" if o.num_gpus else "all GPUs"
        return f"deepspeed on {nodes}, {ranks}, ZeRO-{o.zero_stage}, {o.precision}"

    def command(self, job: Path, port: int) -> list[str]:
        o = self.options
        cmd = launcher()
        if o.hostfile:
            cmd += ["--hostfile", o.hostfile]
        if o.num_nodes:
            cmd += ["--num_nodes", str(o.num_nodes)]
        if o.num_gpus:
            cmd += ["--num_gpus", str(o.num_gpus)]
        if o.master_addr:
            cmd += ["--master_addr", o.master_addr]
        cmd += ["--master_port", str(port), *o.launcher_args, "--module", WORKER_MODULE, str(job)]
        return cmd

    def fit(self, cell: Any, seed: int, run_dir: Path, progress: Progress) -> dict[str, Any]:
        try:
            import deepspeed  # noqa: F401
        except ImportError:
            raise SuiteError("the deepspeed backend needs DeepSpeed: pip install "
                             "'pruning-suite[deepspeed]' (or pip install deepspeed)") from None
        problem = self.options.validate()  # options made in code skip the spec's check
        if problem:
            raise SuiteError(f"[backend.deepspeed] {problem}")
        numerics.check_cell(cell, self.options.precision, self.name)
        check_recipe(cell, self.options.zero_stage)
        world = self.options.world_size()
        if world:
            check_batch(cell.train.batch_size, world, self.options.micro_batch_size)
        job_dir = Path(run_dir) / "deepspeed"
        job_dir.mkdir(parents=True, exist_ok=True)
        for stale in [RESULT, PROGRESS, STOP, INTERRUPTED, *(p.name for p in job_dir.glob("failed-rank*"))]:
            (job_dir / stale).unlink(missing_ok=True)
        with open(job_dir / JOB, "wb") as fh:
            pickle.dump({"format": JOB_FORMAT, "cell": cell, "seed": seed, "options": self.options,
                         "run_dir": str(Path(run_dir).resolve())}, fh)
        port = self.options.master_port or free_port()
        cmd = self.command((job_dir / JOB).resolve(), port)
        log = job_dir / LOG
        with open(log, "a", encoding="utf-8") as fh:
            fh.write(f"\n# {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(cmd)}\n")
            fh.flush()
            # A session of its own: Ctrl-C reaches this process only, which then stops the
            # ranks gracefully (checkpoint first) or, on a second Ctrl-C, kills the job.
            proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    env={**os.environ, "PYTHONUNBUFFERED": "1"}, start_new_session=True)
            try:
                self._follow(proc, job_dir, progress)
            except BaseException:
                _terminate(proc)
                raise
            finally:
                progress.close()
                remove_shm_buffers(port)
        return self._collect(proc.returncode, job_dir, log)

    def _follow(self, proc: subprocess.Popen, job_dir: Path, progress: Progress) -> None:
        follower = ProgressFollower(job_dir / PROGRESS, progress)
        stop_sent = False
        while proc.poll() is None:
            follower.poll()
            if interrupt.requested() and not stop_sent:
                (job_dir / STOP).write_text("stop requested\n")  # rank 0 checks it between steps
                stop_sent = True
            time.sleep(POLL_SECONDS)
        follower.poll()

    def _collect(self, returncode: int, job_dir: Path, log: Path) -> dict[str, Any]:
        if (job_dir / INTERRUPTED).exists():
            raise interrupt.Interrupted
        if returncode == 0 and (job_dir / RESULT).exists():
            return json.loads((job_dir / RESULT).read_text())
        failures = sorted(job_dir.glob("failed-rank*.json"),
                          key=lambda p: int(p.stem.removeprefix("failed-rank")))
        if failures:
            info = json.loads(failures[0].read_text())
            raise RunFailed(f"{info['error']} (rank {info['rank']} of {info['world']}; log: {log})",
                            info.get("partial"))
        raise RunFailed(f"the deepspeed launcher exited with status {returncode} and rank 0 wrote no "
                        f"result; the last lines of {log}:\n{log_tail(log)}")


def _terminate(proc: subprocess.Popen, grace: float = 10.0) -> None:
    """Stop the launcher and its ranks (their own process group): SIGTERM, then SIGKILL."""
    if proc.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, grace)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue
