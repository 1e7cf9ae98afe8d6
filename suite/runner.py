"""Plan and run a spec: expand the grid, skip what is stored, claim and train the rest.

A failing run (exception, NaN loss) is stored as failed with its error and the grid
goes on. An interrupted run (Ctrl-C, SIGTERM, SLURM's SIGUSR2) gives its claim back and
keeps its checkpoint, so the next runner resumes it. A run whose claim was lost (its
lease ran out, another runner took it over) is dropped by this runner and nothing of
it is stored: its new holder resumes it from the checkpoint.
"""

from __future__ import annotations

import errno
import time
import traceback
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from backends import create_backend
from backends.base import Backend, RunFailed
from suite import interrupt
from suite.data import create_dataset
from suite.errors import SpecError, StoreError
from suite.filters import matches, parse_filters
from suite.grid import Cell, expand
from suite.lease import LEASE_SECONDS, RENEWALS_PER_LEASE, LeaseKeeper, expire_dead_local_claims, owner_id
from suite.progress import GridProgress
from suite.result import ResultRecord
from suite.spec import Spec
from suite.store import Claim, RunRow, Store

#: How often a waiting runner looks at the runs that others hold, at most.
WAIT_POLL_SECONDS = 5.0
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
    lost: int = 0

    @property
    def exit_code(self) -> int:
        return 1 if self.failed or self.skipped_failed else 0

    def __add__(self, other: RunSummary) -> RunSummary:
        return RunSummary(*(getattr(self, f) + getattr(other, f) for f in (
            "requested", "already_done", "ran", "done", "failed", "held_elsewhere",
            "skipped_failed", "lost")))


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
        if matches(cell, seed, filters)
    ]
    if filters and not runs and require_match:
        wanted = " ".join(f"{k}={'|'.join(sorted(v))}" for k, v in filters.items())
        raise SpecError(f"--only {wanted} matches no run of {spec.path}; `suite plan {spec.path}` "
                        "lists the cells")
    return runs


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
            require_match: bool = True, results: Path | None = None, wait: bool = False,
            lease: float = LEASE_SECONDS) -> RunSummary:
    """Run every pending (cell, seed) of ``spec`` (failed ones too with ``retry_failed``),
    claiming each in the store first, until none is left that this runner may take.

    With ``wait`` the runner stays while other runners hold runs of the grid, and takes
    over those whose lease runs out (their holder died): what a worker on a cluster does.
    Artifacts go under ``results`` (default: the SQLite store's directory)."""
    runs = plan(spec, store, only, require_match=require_match)
    root = Path(results) if results is not None else store.root
    if root is None:
        raise StoreError(f"the store {store.where} is not a file under a results directory: "
                         "give --results (or SUITE_RESULTS) for the runs' artifacts")
    summary = RunSummary(requested=len(runs))
    todo = []
    for r in runs:
        if r.status == "done":
            summary.already_done += 1
        elif r.status == "failed" and not retry_failed:
            summary.skipped_failed += 1
        else:
            todo.append(r)
    check_data(r.cell for r in todo)  # before anything is stored
    store.record_spec(spec, expand(spec))
    if not todo:
        return summary
    by_key = {(r.cell.id, r.seed): r for r in todo}
    store.enqueue(by_key)
    worker = _Worker(store, backend, root, owner_id(), lease, retry_failed,
                     GridProgress(len(todo), progress_stream,
                                  {r.label: r.cell.rounds * r.cell.train.epochs for r in todo}), summary)
    try:
        worker.serve(spec.digest, by_key, wait)
    finally:
        worker.progress.close()
    summary.held_elsewhere = len(by_key) - len(worker.tried)
    return summary


def check_data(cells: Iterable[Cell]) -> None:
    """Raise DataError when a dataset these cells need cannot be found (each distinct
    dataset and options once), before any run starts or anything is stored."""
    seen = set()
    for cell in cells:
        key = (cell.dataset, repr(cell.dataset_options))
        if key not in seen:
            seen.add(key)
            create_dataset(cell.dataset, cell.dataset_options).check()


class _Worker:
    """One runner's loop over its share of a grid: claim, train, store, repeat."""

    def __init__(self, store: Store, backend: Backend, root: Path, owner: str, lease: float,
                 retry_failed: bool, progress: GridProgress, summary: RunSummary) -> None:
        self.store, self.backend, self.root, self.owner = store, backend, root, owner
        self.lease, self.retry_failed = lease, retry_failed
        self.progress, self.summary = progress, summary
        self.tried: set[tuple[str, int]] = set()
        self.waiting_for = 0

    def runners(self) -> int:
        """The runners working on this store now, this one included."""
        return len(self.store.active_owners() - {self.owner}) + 1

    def serve(self, digest: str, by_key: dict[tuple[str, int], PlannedRun], wait: bool) -> None:
        while True:
            if interrupt.user_requested():
                raise interrupt.Interrupted
            for key in self.store.abandon():
                if key in by_key:
                    self.progress.message(f"failed: {by_key[key].label} was abandoned: its lease "
                                          "ran out on every attempt")
            leases = self.store.leases()
            expire_dead_local_claims(self.store, leases, set(by_key))
            open_ = [k for k in by_key if k not in self.tried
                     and leases.get(k) is not None and leases[k].status != "done"
                     and (leases[k].status != "failed" or self.retry_failed)]
            claim = self.store.claim_next(open_, self.owner, lease=self.lease, digest=digest,
                                          retry_failed=self.retry_failed) if open_ else None
            if claim is not None:
                self.tried.add((claim.cell_id, claim.seed))
                self.run(by_key[claim.cell_id, claim.seed], claim)
                continue
            # the snapshot may predate a claim that beat ours: decide on a fresh one
            leases = self.store.leases()
            if any(leases[k].status == "pending" for k in open_):
                continue
            held = [leases[k].seconds_left for k in open_ if leases[k].status == "running"]
            if not wait or not held:
                return
            # poll a few times per lease: runs held elsewhere end, or their lease runs out
            soonest = min((s for s in held if s is not None), default=self.lease)
            pause = max(0.5, min(soonest, self.lease / RENEWALS_PER_LEASE, WAIT_POLL_SECONDS))
            if len(held) != self.waiting_for:
                self.waiting_for = len(held)
                self.progress.message(f"waiting: {len(held)} runs held by other runners; the "
                                      f"first lease ends in {max(soonest, 0):.0f} s")
            if _sleep_interruptibly(pause):
                raise interrupt.Interrupted

    def run(self, r: PlannedRun, claim: Claim) -> None:
        """Train one claimed run and store its outcome, unless the claim was lost."""
        store, progress, summary = self.store, self.progress, self.summary
        progress.begin(r.label)
        summary.ran += 1
        keeper = LeaseKeeper(store, claim)
        try:
            with keeper:
                fitted = self.backend.fit(r.cell, r.seed, run_dir(self.root, r.cell.id, r.seed),
                                          progress.run)
                # checked here: a malformed record is this run's failure, not the report's
                record = fitted if isinstance(fitted, ResultRecord) else ResultRecord.from_json(fitted)
        except KeyboardInterrupt:
            if keeper.lost and not interrupt.user_requested():
                keeper.forget()
                self._lost(r, claim, keeper.lost_reason)
                return
            keeper.forget()
            store.release(claim, within=30)
            progress.message(f"interrupted: {r.label} keeps its checkpoint and resumes on the "
                             "next `suite run`")
            raise
        except OSError as exc:
            keeper.forget()
            if exc.errno in FATAL_ERRNOS:
                store.release(claim)
                raise StoreError(
                    f"cannot write the artifacts of {r.label} under {self.root}: {exc}. "
                    "Free disk space or fix permissions, then run again: stored results are "
                    "kept and this run resumes from its last checkpoint") from None
            self._failed(r, claim, exc)
            return
        except Exception as exc:  # noqa: BLE001 - every failure is recorded, the grid goes on
            keeper.forget()
            self._failed(r, claim, exc)
            return
        keeper.forget()
        if not store.finish(claim, "done", record):
            self._lost(r, claim, keeper.lost_reason or "another runner took the run over")
            return
        summary.done += 1
        progress.end(r.label, f"top1 {record.metrics['top1']:.2f}% sparsity "
                              f"{record.sparsity['overall']:.3f}", self.runners())

    def _failed(self, r: PlannedRun, claim: Claim, exc: BaseException) -> None:
        error, record = _failure_record(r, exc)
        if self.store.finish(claim, "failed", record, error):
            self.summary.failed.append(f"{r.label}: {error}")
            self.progress.end(r.label, f"FAILED ({error})", self.runners())
        else:
            self._lost(r, claim, "another runner took the run over")

    def _lost(self, r: PlannedRun, claim: Claim, reason: str | None) -> None:
        """The claim is gone: nothing of this attempt is stored; the new holder's counts.
        The run may be claimed again should that holder die too."""
        self.tried.discard((claim.cell_id, claim.seed))
        self.summary.lost += 1
        self.progress.end(r.label, f"lease lost ({reason}); this attempt is dropped and the "
                                   "run belongs to its new holder", self.runners())


def _sleep_interruptibly(seconds: float) -> bool:
    """Sleep, waking early for a stop request; True when one came."""
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        if interrupt.user_requested():
            return True
        time.sleep(min(0.2, left))
    return interrupt.user_requested()


def backend_for(spec: Spec, name: str | None = None, **overrides: Any) -> Backend:
    """The backend a run uses: ``--backend`` or the spec's, with its options and overrides."""
    name = name or spec.backend
    backend = create_backend(name, spec.backend_options.get(name))
    return backend.with_overrides(**overrides)
