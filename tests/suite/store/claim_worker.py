"""One claiming process for the many-writers tests and the claim benchmark:

    python claim_worker.py URL NAME PAIRS_FILE

claims runs from the queue in PAIRS_FILE (JSON list of [cell, seed]) until none is
left, stores a result for each, and prints JSON: the runs it won, each claim's latency
in seconds, and the wall-clock times of its first claim and of its last."""

from __future__ import annotations

import json
import sys
import time

from suite.store import Store


def main() -> None:
    url, name, pairs_file = sys.argv[1:4]
    pairs = [tuple(p) for p in json.load(open(pairs_file))]
    store = Store.open(url)
    won, latencies = [], []
    started = time.time()
    while True:
        t0 = time.perf_counter()
        claim = store.claim_next(pairs, name, lease=60)
        latencies.append(time.perf_counter() - t0)
        if claim is None:
            break
        if not store.finish(claim, "done", {"by": name}):
            raise SystemExit(f"{name}: finish of {claim} was refused")
        won.append([claim.cell_id, claim.seed])
    ended = time.time()
    store.close()
    json.dump({"won": won, "latencies": latencies[:-1], "started": started, "ended": ended},
              sys.stdout)


if __name__ == "__main__":
    main()
