"""Terminal progress: overall runs done/total with ETA, and the current run's steps.

On a terminal two tqdm bars are drawn; otherwise (logs, CI) one line is printed when
a run starts and when it ends, with the overall ETA. The ETA weighs each run by its
work, its rounds times its epochs (a lottery-ticket run trains its recipe once per
round), when the runner says so; each run counts one otherwise.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping
from typing import Any, TextIO

from tqdm import tqdm


def _fmt_seconds(s: float) -> str:
    s = int(round(s))
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m:02d}:{sec:02d}"


class RunProgress:
    """Progress of the current run (the backend's ``Progress``)."""

    def __init__(self, stream: TextIO, interactive: bool) -> None:
        self.stream, self.interactive = stream, interactive
        self.bar: tqdm | None = None

    def start(self, total_steps: int, description: str) -> None:
        if self.interactive:
            self.bar = tqdm(total=total_steps, desc=description, unit="step", position=1,
                            leave=False, file=self.stream, dynamic_ncols=True)

    def advance(self, steps: int, **postfix: Any) -> None:
        if self.bar is not None:
            if steps:
                self.bar.update(steps)
            if postfix:
                self.bar.set_postfix(postfix, refresh=False)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


class GridProgress:
    """Overall progress over the runs of one ``suite run``."""

    def __init__(self, total: int, stream: TextIO | None = None,
                 work: Mapping[str, int] | None = None) -> None:
        self.stream = stream or sys.stderr
        self.interactive = bool(getattr(self.stream, "isatty", lambda: False)())
        self.total, self.finished = total, 0
        #: each run's work (rounds x epochs) by its label; a run not in it counts 1
        self.work = dict(work or {})
        self.work_left = sum(self.work.values()) + total - len(self.work)
        self.ran, self.ran_seconds = 0, 0.0  # the runs this process trained, and their time
        self.ran_work = 0
        self.run_started: float | None = None
        self.runners = 1
        self.bar = (tqdm(total=total, desc="runs", unit="run", position=0, file=self.stream,
                         dynamic_ncols=True) if self.interactive else None)
        self.run = RunProgress(self.stream, self.interactive)

    def eta(self) -> str:
        """Time left: the mean time per unit of work (a run, or a round's epoch where the
        runner gave the work) of the runs trained here, times the work left, shared
        among ``runners`` (the runners working on the same store, this one included)."""
        if not self.ran:
            return "unknown"
        per_unit = self.ran_seconds / max(self.ran_work, 1)
        return _fmt_seconds(per_unit * self.work_left / max(self.runners, 1))

    def message(self, line: str) -> None:
        if self.bar is not None:
            self.bar.write(line, file=self.stream)
        else:
            print(line, file=self.stream, flush=True)

    def begin(self, label: str) -> None:
        self.run_started = time.monotonic()
        if self.bar is None:
            self.message(f"[{self.finished + 1}/{self.total}] {label} ...")

    def end(self, label: str, outcome: str, runners: int | None = None) -> None:
        """One run is over (trained here if :meth:`begin` was called for it); ``runners``
        is how many runners share the rest of the grid, when known."""
        self.finished += 1
        work = self.work.get(label, 1)
        self.work_left -= work
        if self.run_started is not None:
            self.ran += 1
            self.ran_work += work
            self.ran_seconds += time.monotonic() - self.run_started
            self.run_started = None
        if runners is not None:
            self.runners = runners
        if self.bar is not None:
            self.bar.update(1)
            self.message(f"{label}: {outcome}")
        else:
            self.message(f"[{self.finished}/{self.total}] {label}: {outcome} (ETA {self.eta()})")

    def close(self) -> None:
        self.run.close()
        if self.bar is not None:
            self.bar.close()
