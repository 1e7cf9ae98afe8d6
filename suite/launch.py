"""``suite launch``: put a grid's runs in the store's queue, start N workers, return.

Workers are ordinary ``suite run SPEC --wait`` processes: each claims (cell, seed)
pairs from the store until none is left, taking over runs whose worker died. The
queue lives in the store, so the launching shell may go away at once.

- ``local``: N detached processes on this machine (laptops, tests).
- ``slurm``: a SLURM job array submitted through submitit. A job told to stop (SIGUSR2
  before its time limit, or a preemption) makes its worker checkpoint and give its
  claim back, and is requeued; another worker, or the requeued job, resumes the run
  from its checkpoint on the shared results directory.

The store URL reaches workers in their environment (``SUITE_STORE``), never on a
command line, so its password does not show in process lists or job scripts.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from suite.errors import SpecError, SuiteError

EXECUTORS = ("local", "slurm")
#: Seconds a stopping worker gets to checkpoint and release before its job is requeued.
STOP_GRACE_SECONDS = 90


@dataclass(frozen=True)
class LaunchRequest:
    """What ``suite launch`` was asked for (scheduler options apply to ``slurm``)."""

    spec_path: str
    executor: str
    workers: int
    results: Path
    store_url: str  # with its password: goes to the workers' environment only
    worker_args: tuple[str, ...] = ()  # --only, --retry-failed, --lease, --device ...
    partition: str | None = None
    gpus_per_worker: int = 0
    cpus_per_worker: int = 1
    time: str = "24:00:00"
    mem: str | None = None
    slurm_args: tuple[str, ...] = ()  # extra sbatch options, KEY=VALUE
    extra_env: dict[str, str] = field(default_factory=dict)


def parse_time(text: str) -> int:
    """SLURM's time formats (``MM``, ``HH:MM:SS``, ``D-HH[:MM[:SS]]``) as minutes."""
    m = re.fullmatch(r"(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?", text.strip())
    if not m:
        raise SpecError(f"--time {text!r} is not a SLURM time: use MINUTES, HH:MM:SS or D-HH:MM:SS")
    days, a, b, c = (int(g) if g else None for g in m.groups())
    if days is None and b is None:
        return max(1, a)  # plain minutes
    hours, minutes, seconds = a, b or 0, c or 0
    return max(1, (days or 0) * 1440 + hours * 60 + minutes + (1 if seconds else 0))


def worker_argv(req: LaunchRequest) -> list[str]:
    """The command line of one worker: an ordinary ``suite run``."""
    return [sys.executable, "-m", "suite.cli", "run", str(Path(req.spec_path).absolute()),
            "--results", str(req.results.absolute()), "--wait", *req.worker_args]


def launch_dir(results: Path, name: str) -> Path:
    """Where a launch keeps its workers' logs: ``<results>/launch/<time>-<spec name>``."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = results / "launch" / f"{stamp}-{name}"
    n = 1
    while path.exists():
        n += 1
        path = results / "launch" / f"{stamp}-{name}-{n}"
    path.mkdir(parents=True)
    return path


class Worker:
    """The callable a SLURM job runs: ``suite run --wait`` as a child process, with the
    job's stop signal forwarded and the job requeued after a graceful stop (submitit's
    checkpoint protocol)."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        self.argv, self.env = argv, env
        self._proc: subprocess.Popen | None = None

    def __call__(self, index: int) -> int:
        self._proc = subprocess.Popen(self.argv, env={**os.environ, **self.env,
                                                      "SUITE_WORKER_INDEX": str(index)})
        # poll rather than wait(): a blocking wait() would hold the lock that the stop
        # handler (checkpoint, run from a signal in this thread) needs to see it exit
        while (code := self._proc.poll()) is None:
            time.sleep(0.5)
        if code not in (0, 1):
            raise SuiteError(f"worker {index}: `suite run` exited with status {code}")
        return code

    def checkpoint(self, index: int) -> Any:
        """Called when the job must stop: let the worker checkpoint and give its claim
        back, then ask submitit to requeue this job."""
        import submitit

        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGUSR2)  # graceful; repeated signals do not escalate
            try:
                proc.wait(timeout=STOP_GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                proc.terminate()
        return submitit.helpers.DelayedSubmission(Worker(self.argv, self.env), index)


def _start_local(req: LaunchRequest, where: Path, env: dict[str, str]) -> list[str]:
    ids = []
    for i in range(req.workers):
        log = open(where / f"worker-{i}.log", "ab")  # noqa: SIM115 - the child keeps it
        proc = subprocess.Popen(worker_argv(req), stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True,
                                env={**os.environ, **env, "SUITE_WORKER_INDEX": str(i)})
        log.close()
        ids.append(f"pid {proc.pid}")
    return ids


def _start_slurm(req: LaunchRequest, where: Path, env: dict[str, str], name: str) -> list[str]:
    try:
        import submitit
    except ImportError:
        raise SuiteError("--executor slurm needs submitit: pip install 'pruning-suite[cluster]'") from None
    executor = submitit.SlurmExecutor(folder=str(where / "%j"), max_num_timeout=1000)
    extra: dict[str, Any] = {}
    for item in req.slurm_args:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise SpecError(f"--slurm-arg {item!r} must look like KEY=VALUE (an sbatch option "
                            "without its dashes, e.g. --slurm-arg account=myproj)")
        extra[key.strip().replace("-", "_")] = value.strip()
    params: dict[str, Any] = {"job_name": f"suite-{name}", "time": parse_time(req.time),
                              "cpus_per_task": req.cpus_per_worker, "ntasks_per_node": 1,
                              "array_parallelism": req.workers, "signal_delay_s": STOP_GRACE_SECONDS}
    if req.partition:
        params["partition"] = req.partition
    if req.gpus_per_worker:
        params["gpus_per_node"] = req.gpus_per_worker
    if req.mem:
        params["mem"] = req.mem
    if extra:
        params["additional_parameters"] = extra
    executor.update_parameters(**params)
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)  # sbatch hands the submitting environment to the job
    try:
        jobs = executor.map_array(Worker(worker_argv(req), env), list(range(req.workers)))
    except Exception as exc:  # noqa: BLE001 - sbatch's refusal, in its words
        raise SuiteError(f"SLURM refused the job array: {exc}") from None
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return [f"job {job.job_id}" for job in jobs]


def start_workers(req: LaunchRequest, name: str) -> tuple[Path, list[str]]:
    """Start the workers of ``req``; return the launch folder and the worker ids."""
    if req.executor not in EXECUTORS:
        raise SpecError(f"--executor {req.executor!r}: allowed: {', '.join(EXECUTORS)}")
    where = launch_dir(req.results, name)
    env = {"SUITE_STORE": req.store_url, **req.extra_env}
    if req.executor == "local":
        ids = _start_local(req, where, env)
    else:
        ids = _start_slurm(req, where, env, name)
    (where / "workers.json").write_text(json.dumps(
        {"spec": str(Path(req.spec_path).absolute()), "executor": req.executor, "workers": ids,
         "argv": worker_argv(req), "started": time.time()}, indent=1))
    return where, ids
