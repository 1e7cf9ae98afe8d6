"""The job folder, ``<run_dir>/deepspeed/``: everything the parent and the ranks of a
DeepSpeed run say to each other, as files (no DeepSpeed needed).

=====================  =======================  =============================================
file                   written by               read by
=====================  =======================  =============================================
``job.pkl``            the parent, at launch    every rank: cell, seed, options, run folder
``progress.jsonl``     rank 0, during the run   the parent (:class:`ProgressFollower`)
``stop``               the parent, on Ctrl-C    rank 0, between steps (then all ranks stop)
``interrupted``        rank 0, after stopping   the parent: the run stopped at a checkpoint
``result.json``        rank 0, at the end       the parent: the run's result record
``failed-rank<r>``     rank ``r``, on failure   the parent: the error and the last metrics
``launch.log``         the launcher's output    people; the tail goes into failures
=====================  =======================  =============================================

JSON files are written whole (to a temporary name, then renamed), so a reader never
sees half of one; progress lines are appended and replayed whole lines only.
"""

from __future__ import annotations

import json
import os
import pickle
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from backends.base import Progress, RunFailed
from suite import interrupt

#: Files under ``<run_dir>/deepspeed/``.
JOB, RESULT, PROGRESS, STOP, INTERRUPTED, LOG = (
    "job.pkl", "result.json", "progress.jsonl", "stop", "interrupted", "launch.log")
FAILED_PREFIX = "failed-rank"
#: The version of ``job.pkl``; a rank refuses a job of another.
JOB_FORMAT = 1


def write_json(path: Path, obj: Any) -> None:
    """Write ``obj`` as JSON to ``path`` whole (a temporary file, then a rename)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj))
    os.replace(tmp, path)


def read_json(path: Path) -> Any:
    return json.loads(path.read_text())


def log_tail(path: Path, lines: int = 30) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    return "\n".join(text[-lines:])


@dataclass(frozen=True)
class Job:
    """What every rank reads from ``job.pkl``."""

    cell: Any
    seed: int
    options: Any
    run_dir: Path


class JobFolder:
    """The files of one DeepSpeed run (see the module docstring)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    @property
    def job(self) -> Path:
        return self.path / JOB

    @property
    def log(self) -> Path:
        return self.path / LOG

    # ----- the parent ----------------------------------------------------------------
    def prepare(self, job: Job) -> Path:
        """Create the folder, remove what an earlier launch left, write ``job.pkl``;
        return its path."""
        self.path.mkdir(parents=True, exist_ok=True)
        for stale in [RESULT, PROGRESS, STOP, INTERRUPTED,
                      *(p.name for p in self.path.glob(f"{FAILED_PREFIX}*"))]:
            (self.path / stale).unlink(missing_ok=True)
        with open(self.job, "wb") as fh:
            pickle.dump({"format": JOB_FORMAT, "cell": job.cell, "seed": job.seed, "options": job.options,
                         "run_dir": str(Path(job.run_dir).resolve())}, fh)
        return self.job

    def started(self) -> bool:
        """Whether rank 0 of the last launch reported any progress (it got past start-up)."""
        progress = self.path / PROGRESS
        return progress.exists() and progress.stat().st_size > 0

    def request_stop(self) -> None:
        """Ask the ranks to stop at a step boundary, after a checkpoint."""
        (self.path / STOP).write_text("stop requested\n")

    def collect(self, returncode: int, log: Path | None = None) -> dict[str, Any]:
        """The result record of a launch that exited with ``returncode``; raises
        :class:`~suite.interrupt.Interrupted` for a stopped run and :class:`RunFailed`
        (the first failed rank's error, else the log's tail) for a failed one."""
        log = log or self.log
        if (self.path / INTERRUPTED).exists():
            raise interrupt.Interrupted
        if returncode == 0 and (self.path / RESULT).exists():
            return read_json(self.path / RESULT)
        failures = sorted(self.path.glob(f"{FAILED_PREFIX}*.json"),
                          key=lambda p: int(p.stem.removeprefix(FAILED_PREFIX)))
        if failures:
            info = read_json(failures[0])
            raise RunFailed(f"{info['error']} (rank {info['rank']} of {info['world']}; log: {log})",
                            info.get("partial"))
        raise RunFailed(f"the deepspeed launcher exited with status {returncode} and rank 0 wrote no "
                        f"result; the last lines of {log}:\n{log_tail(log)}")

    # ----- the ranks -----------------------------------------------------------------
    @staticmethod
    def read_job(path: Path) -> Job:
        """The job a rank was started on (``path``: its ``job.pkl``)."""
        with open(path, "rb") as fh:
            job = pickle.load(fh)
        if job.get("format") != JOB_FORMAT:
            raise SystemExit(f"{path}: job format {job.get('format')!r}, expected {JOB_FORMAT}")
        return Job(job["cell"], job["seed"], job["options"], Path(job["run_dir"]))

    def stop_requested(self) -> bool:
        return (self.path / STOP).exists()

    def mark_interrupted(self) -> None:
        (self.path / INTERRUPTED).write_text("stopped after a checkpoint\n")

    def write_result(self, record: dict[str, Any]) -> None:
        write_json(self.path / RESULT, record)

    def write_failure(self, rank: int, world: int, error: str, partial: dict[str, Any] | None) -> None:
        write_json(self.path / f"{FAILED_PREFIX}{rank}.json",
                   {"error": error, "partial": partial, "rank": rank, "world": world})


class FileProgress:
    """Rank 0's Progress: JSON lines for the parent to replay, at most a few per second."""

    def __init__(self, path: Path, interval: float = 0.25) -> None:
        self.path, self.interval = path, interval
        self.pending, self.postfix, self.last = 0, {}, 0.0

    def _write(self, event: dict[str, Any]) -> None:
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(event) + "\n")

    def _flush(self) -> None:
        if self.pending or self.postfix:
            self._write({"advance": self.pending, "postfix": self.postfix})
        self.pending, self.postfix, self.last = 0, {}, time.monotonic()

    def start(self, total_steps: int, description: str) -> None:
        self._write({"start": total_steps, "description": description})

    def advance(self, steps: int, **postfix: Any) -> None:
        self.pending += steps
        self.postfix.update({k: str(v) for k, v in postfix.items()})
        if steps == 0 or time.monotonic() - self.last >= self.interval:
            self._flush()

    def close(self) -> None:
        self._flush()


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
