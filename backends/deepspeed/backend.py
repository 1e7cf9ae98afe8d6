"""The parent side of a DeepSpeed run: :meth:`DeepSpeedBackend.fit` checks the cell,
writes the job folder (:mod:`backends.deepspeed.protocol`), starts the ``deepspeed``
launcher on :data:`WORKER_MODULE` in a session of its own, follows rank 0's progress,
passes a stop on, waits, and returns the result record rank 0 wrote (or raises the
failure a rank reported)."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from backends import precision as numerics
from backends.base import BACKENDS, Backend, Progress
from backends.deepspeed.options import DeepSpeedOptions, check_batch
from backends.deepspeed.protocol import PROGRESS, Job, JobFolder, ProgressFollower
from backends.deepspeed.recipe import check_recipe
from suite import interrupt
from suite.errors import SuiteError

#: The module the launcher starts on every rank.
WORKER_MODULE = "backends.deepspeed.worker"
POLL_SECONDS = 0.2


#: Launches of one run whose master port was taken by another process before rank 0
#: could listen on it (see :func:`port_taken`), the last one's failure reported.
PORT_TRIES = 3
_PORT_TAKEN = re.compile(r"EADDRINUSE|address already in use", re.IGNORECASE)


def port_taken(output: str) -> bool:
    """Whether a launch's output says its master port was in use (torch's rendezvous
    store could not listen on it)."""
    return bool(_PORT_TAKEN.search(output))


def free_port() -> int:
    """A TCP port that is free on this machine right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("", 0))
        return int(s.getsockname()[1])


def port_in_use(port: int) -> bool:
    """Whether another process on this machine listens on TCP ``port`` (a port left in
    TIME_WAIT does not count: torch's rendezvous store can listen on it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("", port))
        except OSError:
            return True
    return False


def check_master_port(options: DeepSpeedOptions) -> None:
    """Refuse a ``master_port`` that another process on this machine listens on, when
    rank 0 starts here (no hostfile).

    Rank 0 would fail at once on it, but a rank that reaches the other listener first
    waits for its rendezvous timeout (minutes) before the launcher gives up, and a port
    the user chose is never replaced (:data:`PORT_TRIES` is for ports the backend chose).
    """
    if options.master_port and not options.hostfile and port_in_use(options.master_port):
        raise SuiteError(f"[backend.deepspeed] master_port = {options.master_port} is in use on "
                         "this machine (another process listens on it); choose a free port, or "
                         "0 to let each launch pick one")


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
        check_master_port(self.options)
        folder = JobFolder(Path(run_dir) / "deepspeed")
        try:
            for launch in range(1, PORT_TRIES + 1):
                job = folder.prepare(Job(cell, seed, self.options, Path(run_dir)))
                port = self.options.master_port or free_port()
                returncode, output = self._launch(job, port, folder, progress)
                # A port found free can be taken by another process before rank 0 binds
                # it; only then, and only for a port this backend chose, launch again.
                if (self.options.master_port or launch == PORT_TRIES or returncode == 0
                        or not port_taken(output) or folder.started()):
                    break
                with open(folder.log, "a", encoding="utf-8") as fh:
                    fh.write(f"# port {port} was taken before rank 0 could listen on it; "
                             f"launching again on another ({launch + 1}/{PORT_TRIES})\n")
        finally:
            progress.close()
        return self._collect(returncode, folder.path, folder.log)

    def _launch(self, job: Path, port: int, folder: JobFolder,
                progress: Progress) -> tuple[int, str]:
        """Run the launcher once on ``port``; its exit status and what it wrote."""
        cmd = self.command(job.resolve(), port)
        with open(folder.log, "a", encoding="utf-8") as fh:
            fh.write(f"\n# {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(cmd)}\n")
            fh.flush()
            start = fh.tell()
            # A session of its own: Ctrl-C reaches this process only, which then stops the
            # ranks gracefully (checkpoint first) or, on a second Ctrl-C, kills the job.
            proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    env={**os.environ, "PYTHONUNBUFFERED": "1"}, start_new_session=True)
            try:
                self._follow(proc, folder, progress)
            except BaseException:
                _terminate(proc)
                raise
            finally:
                remove_shm_buffers(port)
        with open(folder.log, encoding="utf-8", errors="replace") as fh:
            fh.seek(start)
            return proc.returncode, fh.read()

    def _follow(self, proc: subprocess.Popen, folder: JobFolder, progress: Progress) -> None:
        follower = ProgressFollower(folder.path / PROGRESS, progress)
        stop_sent = False
        while proc.poll() is None:
            follower.poll()
            if interrupt.requested() and not stop_sent:
                folder.request_stop()  # rank 0 checks it between steps
                stop_sent = True
            time.sleep(POLL_SECONDS)
        follower.poll()

    def _collect(self, returncode: int, job_dir: Path, log: Path) -> dict[str, Any]:
        return JobFolder(job_dir).collect(returncode, log)


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
