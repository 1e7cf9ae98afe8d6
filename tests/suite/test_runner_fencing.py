"""The runner against a real store: a run whose claim was taken over while it trained
(a process paused past its lease) has its late result refused, and the new holder's
result is the one stored."""

from __future__ import annotations

from backends.base import Backend
from suite.result import ResultRecord
from suite.runner import execute
from suite.spec import parse_spec
from suite.store import Store


class PausedPastItsLease(Backend):
    """Trains nothing: while it "trains", its lease runs out and another runner takes the
    run over and stores a result; then it returns its own, late."""

    name = "paused"

    def __init__(self, url: str) -> None:
        super().__init__(None)
        self.url = url

    def fit(self, cell, seed, run_dir, progress):
        other = Store.open(self.url)
        (key, lease), = ((k, v) for k, v in other.leases().items() if v.status == "running")
        assert other.expire(*key, lease.owner, lease.attempts)  # the pause outlived the lease
        taker = other.claim(*key, "taker:1:x")
        assert taker is not None
        assert other.finish(taker, "done", {"by": "taker"})
        other.close()
        return ResultRecord(cell_id=cell.id, cell=cell.canonical(), seed=seed,
                            metrics={"top1": 0.0}, curve=[], sparsity={"overall": 0.0}, flips=[],
                            timing={}, provenance={"by": "late"}).to_json()


def test_a_late_result_is_refused_and_the_new_holders_counts(store_url, tiny_spec_text, tmp_path):
    spec = parse_spec(tiny_spec_text.replace("seeds = [0, 1]", "seeds = [0]"))
    store = Store.open(store_url)
    summary = execute(spec, store, PausedPastItsLease(store_url), results=tmp_path / "r")
    assert (summary.ran, summary.done, summary.lost, summary.failed) == (1, 0, 1, [])
    (row,) = store.runs().values()
    assert (row.status, row.owner, row.result, row.attempts) == ("done", "taker:1:x", {"by": "taker"}, 2)
    store.close()
