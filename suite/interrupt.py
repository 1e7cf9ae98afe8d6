"""Graceful stops: the first SIGINT/SIGTERM asks the current run to checkpoint and stop
at the next step boundary; a second one stops at once.

Stopping between steps, never inside one, is what lets a resumed run end with exactly
the numbers of a run that was never interrupted.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

_requested = threading.Event()


class Interrupted(KeyboardInterrupt):
    """Raised by a trainer that stopped on request after writing its checkpoint."""


def requested() -> bool:
    """True once a stop was asked for."""
    return _requested.is_set()


def clear() -> None:
    """Forget an earlier request (tests, or a new command in the same process)."""
    _requested.clear()


def request() -> None:
    """Ask for a graceful stop (what the signal handler does)."""
    _requested.set()


def _handle(signum: int, frame: FrameType | None) -> None:
    if _requested.is_set():
        raise KeyboardInterrupt
    _requested.set()


@contextmanager
def graceful_stops() -> Iterator[None]:
    """Within this block SIGINT and SIGTERM ask for a graceful stop (main thread only);
    the previous handlers come back afterwards."""
    clear()
    previous = {sig: signal.signal(sig, _handle) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
