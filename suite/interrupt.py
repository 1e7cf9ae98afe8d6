"""Graceful stops: the first SIGINT/SIGTERM asks the current run to checkpoint and stop
at the next step boundary; a second one stops at once. SIGUSR2 (what SLURM sends
before a time limit or a preemption) asks for the same graceful stop and never
escalates, since a batch system may send it more than once.

A run also stops when it may no longer be ours: its claim's lease was taken over, or
could not be renewed before :func:`hold_until`'s deadline. That is not a stop of the
whole grid (:func:`user_requested` stays false): the runner moves on to the next run.

Stopping between steps, never inside one, is what lets a resumed run end with exactly
the numbers of a run that was never interrupted.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

_requested = threading.Event()
_lease_lost = threading.Event()
_deadline: list[float | None] = [None]  # monotonic seconds; None: no lease to watch


class Interrupted(KeyboardInterrupt):
    """Raised by a trainer that stopped on request after writing its checkpoint."""


def requested() -> bool:
    """True once the current run must stop: a stop was asked for, or its lease is lost."""
    return _requested.is_set() or lease_lost()


def user_requested() -> bool:
    """True once a stop of the whole command was asked for (signal, Ctrl-C)."""
    return _requested.is_set()


def lease_lost() -> bool:
    """True when the current run's claim was taken over or its renewal deadline passed."""
    deadline = _deadline[0]
    return _lease_lost.is_set() or (deadline is not None and time.monotonic() > deadline)


def hold_until(deadline: float | None) -> None:
    """The current run may go on until ``deadline`` (``time.monotonic()`` seconds), the
    end of its lease as last renewed; None watches no lease and forgets a lost one."""
    _deadline[0] = deadline
    if deadline is None:
        _lease_lost.clear()


def lose_lease() -> None:
    """The current run's claim belongs to another runner now: stop it."""
    _lease_lost.set()


def clear() -> None:
    """Forget an earlier request (tests, or a new command in the same process)."""
    _requested.clear()
    hold_until(None)


def request() -> None:
    """Ask for a graceful stop (what the signal handler does)."""
    _requested.set()


def _handle(signum: int, frame: FrameType | None) -> None:
    if _requested.is_set() and signum != signal.SIGUSR2:
        raise KeyboardInterrupt
    _requested.set()


@contextmanager
def graceful_stops() -> Iterator[None]:
    """Within this block SIGINT, SIGTERM and SIGUSR2 ask for a graceful stop (main thread
    only); the previous handlers come back afterwards."""
    clear()
    previous = {sig: signal.signal(sig, _handle)
                for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGUSR2)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
