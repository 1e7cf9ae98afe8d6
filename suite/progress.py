"""Terminal progress: overall runs done/total with ETA, and the current run's steps.

On a terminal two tqdm bars are drawn; otherwise (logs, CI) one line is printed when
a run starts and when it ends, with the overall ETA.
"""

from __future__ import annotations

import sys
import time
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

    def __init__(self, total: int, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.interactive = bool(getattr(self.stream, "isatty", lambda: False)())
        self.total, self.finished = total, 0
        self.started = time.monotonic()
        self.bar = (tqdm(total=total, desc="runs", unit="run", position=0, file=self.stream,
                         dynamic_ncols=True) if self.interactive else None)
        self.run = RunProgress(self.stream, self.interactive)

    def eta(self) -> str:
        if not self.finished:
            return "unknown"
        per_run = (time.monotonic() - self.started) / self.finished
        return _fmt_seconds(per_run * (self.total - self.finished))

    def message(self, line: str) -> None:
        if self.bar is not None:
            self.bar.write(line, file=self.stream)
        else:
            print(line, file=self.stream, flush=True)

    def begin(self, label: str) -> None:
        if self.bar is None:
            self.message(f"[{self.finished + 1}/{self.total}] {label} ...")

    def end(self, label: str, outcome: str) -> None:
        self.finished += 1
        if self.bar is not None:
            self.bar.update(1)
            self.message(f"{label}: {outcome}")
        else:
            self.message(f"[{self.finished}/{self.total}] {label}: {outcome} (ETA {self.eta()})")

    def close(self) -> None:
        self.run.close()
        if self.bar is not None:
            self.bar.close()
