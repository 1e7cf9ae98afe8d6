"""Claims: how runners share a grid through the store.

A (cell, seed) is claimed with one atomic statement (``FOR UPDATE SKIP LOCKED`` on
PostgreSQL, an IMMEDIATE transaction on SQLite) and held under a lease that ends on
the database's clock unless the holder renews it. Every later write of the holder
(renewal, result, release) names its owner and attempt number and is refused once the
run has moved to another claim (fencing), so a worker that was cut off can never store
its result over the new holder's. A run whose lease ran out ``max_takeovers`` times in
a row is stored as failed instead of being claimed forever.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, and_, case, false, null, or_, select, tuple_, update

from suite.result import ResultRecord
from suite.store.base import StoreBase, chunks
from suite.store.schema import db_now, runs, spec_cells

#: Claims in a row that may end with the lease running out before a run is failed.
MAX_TAKEOVERS = 2


@dataclass(frozen=True)
class Claim:
    """A claim held on (cell, seed): ``attempt`` is the fencing token of every write."""

    cell_id: str
    seed: int
    owner: str
    attempt: int
    lease: float


@dataclass(frozen=True)
class Lease:
    """Who holds a run and for how much longer (database clock), without its record."""

    status: str
    owner: str | None
    attempts: int
    seconds_left: float | None


class Claims(StoreBase):
    """The claim operations of :class:`suite.store.Store`."""

    def leases(self) -> dict[tuple[str, int], Lease]:
        """Status, holder and the seconds left on its lease of every stored run (what a
        runner polls; the result records are not read)."""
        left = case((runs.c.lease_until.is_(None), null()), else_=runs.c.lease_until - db_now())
        stmt = select(runs.c.cell_id, runs.c.seed, runs.c.status, runs.c.owner, runs.c.attempts, left)
        rows = self._query(lambda c: c.execute(stmt).all())
        return {(r[0], r[1]): Lease(r[2], r[3], r[4], r[5]) for r in rows}

    def active_owners(self) -> set[str]:
        """The owners of claims whose lease has not run out: the runners working now."""
        stmt = select(runs.c.owner).distinct().where(runs.c.status == "running",
                                                     runs.c.lease_until >= db_now())
        return {r[0] for r in self._query(lambda c: c.execute(stmt).all()) if r[0]}

    def enqueue(self, pairs: Iterable[tuple[str, int]]) -> None:
        """Make sure a row exists for each (cell id, seed); new rows are pending."""
        rows = [{"cell_id": c, "seed": s, "status": "pending", "attempts": 0, "takeovers": 0}
                for c, s in pairs]

        def write(conn: Connection) -> None:
            stmt = self._insert(runs).on_conflict_do_nothing(index_elements=["cell_id", "seed"])
            for chunk in chunks(rows):
                conn.execute(stmt, chunk)
        if rows:
            self._write(write)

    @staticmethod
    def _claimable(table, retry_failed: bool, max_takeovers: int):
        expired = or_(table.c.lease_until.is_(None), table.c.lease_until < db_now())
        return or_(table.c.status == "pending",
                   and_(table.c.status == "running", expired, table.c.takeovers < max_takeovers),
                   (table.c.status == "failed") if retry_failed else false())

    def claim_next(self, pairs: Sequence[tuple[str, int]], owner: str, *, lease: float,
                   digest: str | None = None, retry_failed: bool = False,
                   max_takeovers: int = MAX_TAKEOVERS) -> Claim | None:
        """Claim the first claimable run among ``pairs`` (in the spec's order when
        ``digest`` names it): pending, failed with ``retry_failed``, or running under a
        lease that ran out. Runs already claimed by ``owner`` are not claimed again, except
        the one a retried write finds claimed by its own first try. Rows must exist
        (:meth:`enqueue`). None when none is free."""
        for chunk in chunks(list(pairs)):
            held: list[set[tuple[str, int]]] = []  # filled by the first try that reads it
            claim = self._write(lambda conn, chunk=chunk, held=held: self._claim_in(
                conn, chunk, owner, lease, digest, retry_failed, max_takeovers, held))
            if claim is not None:
                return claim
        return None

    @staticmethod
    def _running_under(conn: Connection, chunk: Sequence[tuple[str, int]],
                       owner: str) -> dict[tuple[str, int], int]:
        """(cell id, seed) -> attempt of the runs of ``chunk`` running under ``owner``."""
        stmt = select(runs.c.cell_id, runs.c.seed, runs.c.attempts).where(
            tuple_(runs.c.cell_id, runs.c.seed).in_(list(chunk)),
            runs.c.status == "running", runs.c.owner == owner)
        return {(r[0], r[1]): r[2] for r in conn.execute(stmt)}

    def _claim_in(self, conn: Connection, chunk: Sequence[tuple[str, int]], owner: str,
                  lease: float, digest: str | None, retry_failed: bool,
                  max_takeovers: int, held: list[set[tuple[str, int]]]) -> Claim | None:
        # A retried write may follow a claim that committed but whose reply was lost: a
        # run now ours that was not ours before the first try is that claim. Taking it
        # back here keeps it from waiting for its lease to run out, held by nobody.
        mine = self._running_under(conn, chunk, owner)
        if held:
            lost = sorted(key for key in mine if key not in held[0])
            if lost:
                key, now = lost[0], db_now()
                conn.execute(update(runs).where(
                    runs.c.cell_id == key[0], runs.c.seed == key[1], runs.c.owner == owner,
                    runs.c.attempts == mine[key]).values(heartbeat=now, lease_until=now + lease))
                return Claim(key[0], key[1], owner, mine[key], lease)
        else:
            held.append(set(mine))
        cand = runs.alias("candidate")
        pick = select(cand.c.cell_id, cand.c.seed).where(
            tuple_(cand.c.cell_id, cand.c.seed).in_(list(chunk)),
            self._claimable(cand, retry_failed, max_takeovers))
        if digest is not None:
            pick = (pick.join(spec_cells, and_(spec_cells.c.cell_id == cand.c.cell_id,
                                               spec_cells.c.digest == digest))
                    .order_by(spec_cells.c.position, cand.c.seed))
        else:
            pick = pick.order_by(cand.c.cell_id, cand.c.seed)
        pick = pick.limit(1).with_for_update(skip_locked=True, of=cand)
        now = db_now()
        taken_over = and_(runs.c.status == "running", runs.c.owner != owner)
        stmt = (update(runs)
                .where(tuple_(runs.c.cell_id, runs.c.seed).in_(pick),
                       self._claimable(runs, retry_failed, max_takeovers))
                .values(status="running", owner=owner, heartbeat=now, started=now, finished=None,
                        lease_until=now + lease, attempts=runs.c.attempts + 1,
                        takeovers=case((taken_over, runs.c.takeovers + 1),
                                       (runs.c.status == "failed", 0), else_=runs.c.takeovers))
                .returning(runs.c.cell_id, runs.c.seed, runs.c.attempts))
        row = conn.execute(stmt).first()
        return Claim(row[0], row[1], owner, row[2], lease) if row else None

    def claim(self, cell_id: str, seed: int, owner: str, *, lease: float = 300.0,
              retry_failed: bool = False, max_takeovers: int = MAX_TAKEOVERS) -> Claim | None:
        """Claim one (cell, seed) (see :meth:`claim_next`)."""
        self.enqueue([(cell_id, seed)])
        return self.claim_next([(cell_id, seed)], owner, lease=lease, retry_failed=retry_failed,
                               max_takeovers=max_takeovers)

    def _ours(self, claim: Claim, *statuses: str):
        return and_(runs.c.cell_id == claim.cell_id, runs.c.seed == claim.seed,
                    runs.c.owner == claim.owner, runs.c.attempts == claim.attempt,
                    runs.c.status.in_(statuses or ("running",)))

    def _fenced(self, stmt, within: float | None = None) -> bool:
        return self._write(lambda conn: conn.execute(stmt).rowcount == 1, within)

    def heartbeat(self, claim: Claim, *, within: float | None = None) -> bool:
        """Renew the lease; False when the run is no longer ours (fenced). A dropped
        connection is retried for ``within`` seconds, then raises StoreError."""
        now = db_now()
        return self._fenced(update(runs).where(self._ours(claim))
                            .values(heartbeat=now, lease_until=now + claim.lease), within)

    def finish(self, claim: Claim, status: str, result: ResultRecord | dict[str, Any] | None,
               error: str | None = None) -> bool:
        """Store the outcome ('done' or 'failed') of our claim: a done run's result record
        (stored as ``to_json()``), a failed one's error and what is known of it. False,
        and nothing written, when the claim was taken over: the new holder's result counts."""
        if status not in ("done", "failed"):
            raise ValueError(f"finish() takes 'done' or 'failed', not {status!r}")
        if isinstance(result, ResultRecord):
            result = result.to_json()
        record = json.dumps(result) if result is not None else None
        # status may already be ours when a retry follows a commit whose reply was lost
        return self._fenced(update(runs).where(self._ours(claim, "running", status)).values(
            status=status, finished=db_now(), error=error, result=record, heartbeat=None,
            lease_until=None, takeovers=0))

    def release(self, claim: Claim, *, within: float | None = None) -> bool:
        """Give the claim back without a result (interrupted): pending again."""
        return self._fenced(update(runs).where(self._ours(claim)).values(
            status="pending", owner=None, heartbeat=None, lease_until=None, started=None), within)

    def expire(self, cell_id: str, seed: int, owner: str, attempt: int) -> bool:
        """End the lease of a holder known to be dead (a process of this host that is
        gone), so the run can be claimed at once instead of after its lease."""
        return self._fenced(update(runs).where(
            runs.c.cell_id == cell_id, runs.c.seed == seed, runs.c.owner == owner,
            runs.c.attempts == attempt, runs.c.status == "running").values(lease_until=0.0))

    def abandon(self, max_takeovers: int = MAX_TAKEOVERS) -> list[tuple[str, int]]:
        """Store as failed each run whose lease ran out after ``max_takeovers``
        takeovers in a row: every holder died, so another try would likely die too."""
        stmt = select(runs.c.cell_id, runs.c.seed, runs.c.owner, runs.c.attempts).where(
            runs.c.status == "running", runs.c.lease_until < db_now(),
            runs.c.takeovers >= max_takeovers)
        gone = []
        for cell_id, seed, owner, attempts in self._query(lambda c: c.execute(stmt).all()):
            claim = Claim(cell_id, seed, owner, attempts, 0.0)
            error = (f"abandoned after {attempts} attempts: each holder stopped renewing its "
                     f"lease (killed, out of memory or cut off; the last was {owner}). Read its "
                     "log, then `suite run --retry-failed` runs it again")
            if self._fenced(update(runs).where(self._ours(claim), runs.c.lease_until < db_now())
                            .values(status="failed", finished=db_now(), error=error,
                                    lease_until=None, result=None)):
                gone.append((cell_id, seed))
        return gone
