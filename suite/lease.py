"""Holding a claim while its run trains: who we are, the heartbeat that renews the
lease, and the takeover of claims whose holder is known to be dead.

The lease ends on the database's clock; the heartbeat renews it every
``lease / RENEWALS_PER_LEASE`` seconds. The runner also keeps a local deadline: the
time the last successful renewal was *sent* plus the lease, less one renewal period.
That is never later than the lease's end on the server, so a runner cut off from the
store stops (at a step boundary) before anyone else may take its run over, even while
its renewal calls hang on a dead link.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from typing import Any

from suite import interrupt
from suite.errors import StoreError
from suite.store import Claim, Store

#: Default lease of a claim, seconds: how long a dead runner's run waits for a taker.
LEASE_SECONDS = 300.0
RENEWALS_PER_LEASE = 10


def host_name() -> str:
    """This host's name in claims (``$SUITE_HOST`` overrides the system's)."""
    return os.environ.get("SUITE_HOST") or socket.gethostname()


def owner_id() -> str:
    """Identifies this runner process in claims: ``host:pid:random``."""
    return f"{host_name()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def owner_is_dead(owner: str | None) -> bool:
    """True when ``owner`` names a process of this host that is gone. Owners on other
    hosts are judged by their lease alone."""
    if not owner:
        return False
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != host_name() or not pid_text.isdigit():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def expire_dead_local_claims(store: Store, leases: dict[tuple[str, int], Any],
                             wanted: set[tuple[str, int]]) -> int:
    """End the leases of runs in ``wanted`` held by processes of this host that no
    longer exist (killed), so they are taken over now rather than after the lease."""
    ended = 0
    for key, lease in leases.items():
        if key in wanted and lease.status == "running" and owner_is_dead(lease.owner):
            ended += store.expire(key[0], key[1], lease.owner, lease.attempts)
    return ended


class LeaseKeeper:
    """Renews ``claim`` from a thread while its run trains, and stops the run (through
    :mod:`suite.interrupt`) when the claim was taken over or could not be renewed in time."""

    def __init__(self, store: Store, claim: Claim) -> None:
        self.store, self.claim = store, claim
        self.interval = claim.lease / RENEWALS_PER_LEASE
        self.lost_reason: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, daemon=True, name="lease")

    def _deadline(self, sent: float) -> float:
        return sent + self.claim.lease - self.interval

    def _beat(self) -> None:
        while not self._stop.wait(self.interval):
            sent = time.monotonic()
            try:
                ours = self.store.heartbeat(self.claim, within=self.interval)
            except StoreError as exc:
                if not interrupt.lease_lost():
                    continue  # the deadline stops the run if the store stays unreachable
                self.lost_reason = f"the store was unreachable until the lease ran out ({exc})"
                return
            if not ours:
                self.lost_reason = "another runner took the run over"
                interrupt.lose_lease()
                return
            interrupt.hold_until(self._deadline(sent))

    def __enter__(self) -> LeaseKeeper:
        # the claim was granted just now: its lease runs from about here
        interrupt.hold_until(self._deadline(time.monotonic()))
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()
        if interrupt.lease_lost() and self.lost_reason is None:
            self.lost_reason = "its lease could not be renewed in time (the store was unreachable)"

    @property
    def lost(self) -> bool:
        """True when the run stopped (or must not be stored) because the claim is gone."""
        return self.lost_reason is not None or interrupt.lease_lost()

    def forget(self) -> None:
        """Stop watching the lease (the run has ended)."""
        interrupt.hold_until(None)
