"""The store on both engines: round trip, claims, leases on the database clock, fencing,
bounded takeovers, and races between claimers."""

from __future__ import annotations

import threading
import time
from dataclasses import replace

import pytest
from sqlalchemy import select

from suite.grid import expand
from suite.spec import parse_spec
from suite.store import Store
from suite.store.schema import spec_cells


@pytest.fixture
def store(store_url):
    s = Store.open(store_url)
    yield s
    s.close()


def test_round_trip(store, store_url, tiny_spec_text):
    spec = parse_spec(tiny_spec_text, "tiny.toml")
    cells = expand(spec)
    store.record_spec(spec, cells)
    cid = cells[0].id
    assert (cid, 0) not in store.runs()
    claim = store.claim(cid, 0, "me")
    assert claim and claim.attempt == 1
    assert store.runs()[cid, 0].status == "running"
    assert store.finish(claim, "done", {"format": "x", "metrics": {"top1": 50.0}})
    store.close()

    again = Store.open(store_url, create=False)
    row = again.runs()[cid, 0]
    assert row.status == "done" and row.result["metrics"]["top1"] == 50.0 and row.attempts == 1
    assert [s["name"] for s in again.specs()] == ["tiny"]
    assert again.specs()[0]["text"] == tiny_spec_text
    placed = select(spec_cells.c.cell_id).where(spec_cells.c.digest == spec.digest)
    with again.engine.connect() as conn:
        assert list(conn.execute(placed.order_by(spec_cells.c.position)).scalars()) == [
            c.id for c in cells]
    again.close()


def test_claims_are_exclusive_until_the_lease_runs_out(store):
    # A long lease while exclusivity is checked and a short one to let it run out: a
    # stall of the test process can only lengthen the wait, never fail the test.
    a = store.claim("c", 0, "a", lease=60)
    assert a
    assert not store.claim("c", 0, "b")
    assert store.heartbeat(replace(a, lease=0.05))
    time.sleep(0.2)  # a did not renew again: its lease ran out on the database clock
    b = store.claim("c", 0, "b")
    assert b and b.attempt == 2
    assert not store.heartbeat(a)  # fenced: the claim moved to b
    assert not store.finish(a, "done", {"from": "a"})  # a's late result is refused
    assert not store.release(a)
    assert store.heartbeat(b)
    assert store.finish(b, "failed", None, "boom")
    row = store.runs()["c", 0]
    assert (row.status, row.owner, row.error, row.result) == ("failed", "b", "boom", None)
    assert not store.claim("c", 0, "a")
    retried = store.claim("c", 0, "a", retry_failed=True)
    assert retried and retried.attempt == 3


def test_a_renewed_lease_is_never_taken_over(store):
    """Optuna's stale-trial race: a live holder renews; a racing claimer must not win."""
    # Renewed every 0.5 s for 4 s, longer than the 3 s lease: only renewal keeps it, and a
    # stall of up to 2.5 s between a renewal and the racing claim is still no takeover.
    a = store.claim("c", 0, "a", lease=3)
    for _ in range(8):
        time.sleep(0.5)
        assert store.heartbeat(a)
        assert store.claim("c", 0, "b", lease=3) is None
    assert store.finish(a, "done", {"ok": 1})
    assert store.runs()["c", 0].attempts == 1


def test_finish_is_idempotent_for_its_own_claim(store):
    """A retry after a commit whose reply was lost must not read as a lost claim."""
    a = store.claim("c", 0, "a")
    assert store.finish(a, "done", {"v": 1})
    assert store.finish(a, "done", {"v": 1})
    assert store.runs()["c", 0].result == {"v": 1}


def test_a_claim_whose_reply_was_lost_is_taken_back_by_its_retry(store, monkeypatch):
    """The claim commits, its reply is lost and the write is retried: the retry must take
    the same run back, not leave it held by nobody until its lease runs out."""
    store.enqueue([("c", 0), ("c", 1)])
    real_write, lost = store._write, []

    def lose_the_first_reply(fn, within=None):
        if not lost:
            lost.append(real_write(fn, within))  # committed, but the caller never hears
        return real_write(fn, within)  # the retry
    monkeypatch.setattr(store, "_write", lose_the_first_reply)
    claim = store.claim_next([("c", 0), ("c", 1)], "a", lease=300)
    monkeypatch.undo()
    assert (lost[0].cell_id, lost[0].seed, lost[0].attempt) == ("c", 0, 1)
    assert claim == lost[0]
    rows = store.runs()
    assert (rows["c", 0].owner, rows["c", 1].status) == ("a", "pending")
    assert store.claim("c", 0, "b") is None  # still a live claim to everyone else
    assert store.heartbeat(claim) and store.finish(claim, "done", {"v": 1})
    # without a lost reply, a claim already held stays held and is not handed out again
    held = store.claim_next([("c", 1)], "a", lease=300)
    assert store.claim_next([("c", 1)], "a", lease=300) is None and held.attempt == 1


def test_release_makes_pending_again_and_keeps_the_attempt_count(store):
    a = store.claim("c", 1, "a")
    assert store.release(a)
    row = store.runs()["c", 1]
    assert (row.status, row.owner, row.attempts) == ("pending", None, 1)
    b = store.claim("c", 1, "b")
    assert b.attempt == 2  # attempt numbers only grow: they are the fencing token


def test_runs_whose_lease_keeps_running_out_are_abandoned(store):
    for attempt, owner in enumerate(["a", "b", "c"], start=1):
        claim = store.claim("x", 0, owner, lease=0.05)
        assert claim and claim.attempt == attempt
        time.sleep(0.1)
    assert store.claim("x", 0, "d", lease=0.05) is None  # two takeovers: no third
    assert store.abandon() == [("x", 0)]
    row = store.runs()["x", 0]
    assert row.status == "failed" and "abandoned after 3 attempts" in row.error and "c" in row.error
    assert store.claim("x", 0, "d", retry_failed=True).attempt == 4


def test_expire_ends_a_dead_holders_lease_at_once(store):
    a = store.claim("c", 0, "a")
    assert not store.expire("c", 0, "a", a.attempt + 1)  # fenced by attempt
    assert store.expire("c", 0, "a", a.attempt)
    assert store.claim("c", 0, "b").attempt == 2


def test_active_owners_are_the_unexpired_claims(store):
    assert store.active_owners() == set()
    store.claim("c", 0, "a")
    store.claim("c", 1, "a")
    store.claim("d", 0, "b")
    store.claim("e", 0, "gone", lease=0.05)
    store.finish(store.claim("f", 0, "done"), "done", {"format": "x"})
    time.sleep(0.1)
    assert store.active_owners() == {"a", "b"}


def test_claim_next_follows_the_spec_order_and_skips_what_is_taken(store, tiny_spec_text):
    spec = parse_spec(tiny_spec_text.replace('model = ["mlp"]', 'model = ["mlp", "small_cnn"]'))
    cells = expand(spec)
    assert len(cells) == 2
    store.record_spec(spec, cells)
    pairs = [(c.id, s) for c in cells for s in (2, 1, 0)]
    store.enqueue(pairs)
    store.enqueue(pairs)  # idempotent
    taken = store.claim(cells[1].id, 1, "other")  # held elsewhere: skipped
    got = [store.claim_next(pairs, "w", lease=60, digest=spec.digest) for _ in range(5)]
    expected = [(c.id, s) for c in cells for s in (0, 1, 2) if (c.id, s) != (taken.cell_id, 1)]
    assert [(g.cell_id, g.seed) for g in got] == expected  # spec order, then seed
    assert store.claim_next(pairs, "w", lease=60, digest=spec.digest) is None  # own claims too


def test_racing_claimers_take_each_run_exactly_once(store_url):
    """Many threads, each with its own connection, claim from one queue at once."""
    pairs = [(f"cell{i:03d}", s) for i in range(40) for s in range(2)]
    setup = Store.open(store_url)
    setup.enqueue(pairs)
    setup.close()
    won: list[tuple[str, int, str]] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def worker(name: str) -> None:
        try:
            s = Store.open(store_url)
            while (claim := s.claim_next(pairs, name, lease=60)) is not None:
                assert s.finish(claim, "done", {"by": name})
                with lock:
                    won.append((claim.cell_id, claim.seed, name))
            s.close()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sorted((c, s) for c, s, _ in won) == sorted(pairs)  # none lost, none twice
    check = Store.open(store_url, create=False)
    rows = check.runs()
    assert {(r.status, r.attempts) for r in rows.values()} == {("done", 1)}
    assert all(rows[c, s].result == {"by": w} for c, s, w in won)
    check.close()
