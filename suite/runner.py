"""Plan and run a spec: expand the grid, skip what is stored, claim and train the rest.

A failing run (exception, NaN loss) is stored as failed with its error and the grid
goes on. An interrupted run (Ctrl-C) gives its claim back and keeps its checkpoint, so
the next ``suite run`` resumes it.
"""

from __future__ import annotations

import errno
import os
import socket
import threading
import traceback
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from backends import create_backend
from backends.base import Backend, RunFailed
from suite import interrupt
from suite.errors import SpecError, StoreError
from suite.grid import Cell, expand
from suite.progress import GridProgress
from suite.registry import did_you_mean
from suite.spec import AXES, Spec
from suite.store import RunRow, Store

FILTER_KEYS = (*AXES, "seed", "id")
HEARTBEAT_SECONDS = 30.0
STALE_AFTER_SECONDS = 300.0
#: OS errors that no other run would escape either (disk full, no permission): they stop
#: the whole `suite run` instead of marking run after run as failed.
FATAL_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EACCES, errno.EPERM}


@dataclass(frozen=True)
class PlannedRun:
    """One (cell, seed) of a spec and its stored state."""

    cell: Cell
    seed: int
    row: RunRow

    @property
    def status(self) -> str:
        return self.row.status

    @property
    def label(self) -> str:
        c = self.cell
        sparsity = f" s={c.sparsity:g}" if c.sparsity else ""
        return f"{c.method}/{c.model}/{c.dataset}{sparsity} seed={self.seed} [{c.id}]"


@dataclass
class RunSummary:
    """What one ``suite run`` did."""

    requested: int = 0
    already_done: int = 0
    ran: int = 0
    done: int = 0
    failed: list[str] = field(default_factory=list)
    held_elsewhere: int = 0
    skipped_failed: int = 0

    @property
    def exit_code(self) -> int:
        return 1 if self.failed or self.skipped_failed else 0

    def __add__(self, other: RunSummary) -> RunSummary:
        return RunSummary(*(getattr(self, f) + getattr(other, f) for f in (
            "requested", "already_done", "ran", "done", "failed", "held_elsewhere",
            "skipped_failed")))


def parse_filters(only: Iterable[str]) -> dict[str, set[str]]:
    """``--only KEY=VALUE`` options: same key = any of the values, different keys = all."""
    filters: dict[str, set[str]] = {}
    for item in only:
        key, sep, value = item.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key or not value:
            raise SpecError(f"--only {item!r} must look like KEY=VALUE, e.g. --only method=dpf")
        if key not in FILTER_KEYS:
            raise SpecError(f"--only {item!r}: unknown key {key!r}{did_you_mean(key, FILTER_KEYS)}; "
                            f"allowed keys: {', '.join(FILTER_KEYS)}")
        if key == "sparsity":
            try:
                value = repr(float(value))
            except ValueError:
                raise SpecError(f"--only {item!r}: sparsity must be a number") from None
        filters.setdefault(key, set()).add(value)
    return filters


def _matches(cell: Cell, seed: int, filters: dict[str, set[str]]) -> bool:
    values = {"method": cell.method, "model": cell.model, "dataset": cell.dataset,
              "sparsity": repr(float(cell.sparsity)), "seed": str(seed), "id": cell.id}
    return all(values[k] in allowed for k, allowed in filters.items())


def plan(spec: Spec, store: Store | None, only: Iterable[str] = (), *,
         require_match: bool = True) -> list[PlannedRun]:
    """Every (cell, seed) of ``spec`` that passes ``only``, with its stored state.
    ``--only`` filters that match nothing are an error unless ``require_match`` is false
    (a member of a collection may have no matching run while another has)."""
    filters = parse_filters(only)
    stored = store.runs() if store is not None else {}
    runs = [
        PlannedRun(cell, seed, stored.get((cell.id, seed), RunRow(cell.id, seed, "pending")))
        for cell in expand(spec) for seed in spec.seeds
        if _matches(cell, seed, filters)
    ]
    if filters and not runs and require_match:
        wanted = " ".join(f"{k}={'|'.join(sorted(v))}" for k, v in filters.items())
        raise SpecError(f"--only {wanted} matches no run of {spec.path}; `suite plan {spec.path}` "
                        "lists the cells")
    return runs


def owner_id() -> str:
    """Identifies this runner process in claims."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Heartbeat:
    """Refreshes a claim every ``interval`` seconds from a thread with its own connection."""

    def __init__(self, root: Path, cell_id: str, seed: int, owner: str,
                 interval: float = HEARTBEAT_SECONDS) -> None:
        self.args = (cell_id, seed, owner)
        self.root, self.interval = root, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, daemon=True)

    def _beat(self) -> None:
        store = Store(self.root)
        try:
            while not self._stop.wait(self.interval):
                store.heartbeat(*self.args)
        finally:
            store.close()

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()


def run_dir(root: Path, cell_id: str, seed: int) -> Path:
    """Where the artifacts of (cell, seed) live."""
    return root / "runs" / cell_id / f"seed-{seed}"


def _failure_record(run: PlannedRun, exc: BaseException) -> tuple[str, dict[str, Any]]:
    error = f"{type(exc).__name__}: {exc}"
    record = {"cell_id": run.cell.id, "seed": run.seed, "error": error,
              "traceback": traceback.format_exc(limit=20)}
    if isinstance(exc, RunFailed):
        record["partial"] = exc.partial
    return error, record


def execute(spec: Spec, store: Store, backend: Backend, *, only: Iterable[str] = (),
            retry_failed: bool = False, progress_stream: Any = None,
            require_match: bool = True) -> RunSummary:
    """Run every pending (cell, seed) of ``spec`` (failed ones too with ``retry_failed``)."""
    runs = plan(spec, store, only, require_match=require_match)
    store.record_spec(spec, expand(spec))
    summary = RunSummary(requested=len(runs))
    todo = []
    for r in runs:
        if r.status == "done":
            summary.already_done += 1
        elif r.status == "failed" and not retry_failed:
            summary.skipped_failed += 1
        else:
            todo.append(r)
    if not todo:
        return summary
    owner = owner_id()
    progress = GridProgress(len(todo), progress_stream)

    def runners() -> int:  # the others working on this store now, and this one
        return len(store.active_owners(STALE_AFTER_SECONDS) - {owner}) + 1

    try:
        for r in todo:
            if interrupt.requested():
                raise interrupt.Interrupted
            if not store.claim(r.cell.id, r.seed, owner, retry_failed=retry_failed,
                               stale_after=STALE_AFTER_SECONDS):
                summary.held_elsewhere += 1
                progress.end(r.label, "taken by another runner", runners())
                continue
            progress.begin(r.label)
            summary.ran += 1
            try:
                with Heartbeat(store.root, r.cell.id, r.seed, owner):
                    result = backend.fit(r.cell, r.seed, run_dir(store.root, r.cell.id, r.seed),
                                         progress.run)
            except KeyboardInterrupt:
                store.release(r.cell.id, r.seed, owner)
                progress.message(f"interrupted: {r.label} keeps its checkpoint and resumes on the "
                                 "next `suite run`")
                raise
            except OSError as exc:
                if exc.errno in FATAL_ERRNOS:
                    store.release(r.cell.id, r.seed, owner)
                    raise StoreError(
                        f"cannot write the artifacts of {r.label} under {store.root}: {exc}. "
                        "Free disk space or fix permissions, then run again: stored results are "
                        "kept and this run resumes from its last checkpoint") from None
                error, record = _failure_record(r, exc)
                store.finish(r.cell.id, r.seed, owner, "failed", record, error)
                summary.failed.append(f"{r.label}: {error}")
                progress.end(r.label, f"FAILED ({error})", runners())
                continue
            except Exception as exc:  # noqa: BLE001 - every failure is recorded, the grid goes on
                error, record = _failure_record(r, exc)
                store.finish(r.cell.id, r.seed, owner, "failed", record, error)
                summary.failed.append(f"{r.label}: {error}")
                progress.end(r.label, f"FAILED ({error})", runners())
                continue
            store.finish(r.cell.id, r.seed, owner, "done", result)
            summary.done += 1
            m = result["metrics"]
            progress.end(r.label, f"top1 {m['top1']:.2f}% sparsity "
                                  f"{result['sparsity']['overall']:.3f}", runners())
    finally:
        progress.close()
    return summary


def backend_for(spec: Spec, name: str | None = None, **overrides: Any) -> Backend:
    """The backend a run uses: ``--backend`` or the spec's, with its options and overrides."""
    name = name or spec.backend
    backend = create_backend(name, spec.backend_options.get(name))
    return backend.with_overrides(**overrides)
