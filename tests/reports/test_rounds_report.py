"""The HTML report's per-round table of runs of several rounds (LTH), from fabricated
records; other formats and specs without such runs are unchanged."""

from __future__ import annotations

import textwrap

from suite.grid import expand
from suite.report import details, report
from suite.result import RESULT_FORMAT
from suite.spec import load_spec
from suite.store import Store

SPEC = textwrap.dedent("""
    [suite]
    name = "rounds"
    seeds = [0, 1]
    [grid]
    method = ["dense", "lth"]
    model = ["mlp"]
    dataset = ["digits"]
    sparsity = [0.75]
    [train]
    epochs = 2
    [method.lth]
    rounds = 3
""")


def record(cell, seed: int, top1: float, achieved: float) -> dict:
    """A finished run's record with a flat curve (what the tables and figures read)."""
    curve = [{"epoch": e, "train_loss": 0.5, "top1": top1, "test_loss": 0.3, "lr": 0.1,
              "sparsity": achieved} for e in (1, 2)]
    return {
        "format": RESULT_FORMAT, "cell_id": cell.id, "cell": cell.canonical(), "seed": seed,
        "metrics": {"top1": top1, "best_top1": top1, "train_loss": 0.5, "test_loss": 0.3},
        "curve": curve,
        "sparsity": {"target": cell.sparsity, "overall": achieved, "per_layer": {}, "off_target": False,
                     "params_total": 10, "params_prunable": 1, "params_kept": 1, "macs_total": 1,
                     "macs_kept": 1},
        "flips": [],
        "timing": {"train_seconds": 1.0, "wall_seconds": 1.5, "images_per_second": 1000.0},
        "provenance": {"device": "cpu", "torch": "fixture"},
    }


def lth_record(cell, seed: int) -> dict:
    """Three rounds of two epochs at sparsity 0, 0.5, 0.75."""
    rec = record(cell, seed, 90.0 + seed, 0.75)
    top1 = {1: 95.0, 2: 94.0, 3: 92.0}
    rec["curve"] = [{"epoch": e, "round": r, "train_loss": 0.5, "top1": top1[r] + seed - (2 - e),
                     "test_loss": 0.3, "lr": 0.1, "sparsity": s}
                    for r, s in ((1, 0.0), (2, 0.5), (3, 0.75)) for e in (1, 2)]
    rec["rounds"] = [{"round": r, "epochs": 2, "sparsity": s, "top1": top1[r] + seed,
                      "best_top1": top1[r] + seed, "test_loss": 0.3, "train_loss": 0.5}
                     for r, s in ((1, 0.0), (2, 0.5), (3, 0.75))]
    return rec


def test_html_shows_each_round_and_the_curves_count_the_whole_run(tmp_path):
    path = tmp_path / "rounds.toml"
    path.write_text(SPEC)
    spec = load_spec(path)
    store = Store(tmp_path / "results")
    store.record_spec(spec, expand(spec))
    for cell in expand(spec):
        for seed in spec.seeds:
            claim = store.claim(cell.id, seed, "fixture:1:x")
            rec = lth_record(cell, seed) if cell.method == "lth" else record(cell, seed, 97.0, 0.0)
            store.finish(claim, "done", rec)
    html = report([spec], store, "html")
    assert "<h3>Rounds</h3>" in html
    assert ('<tr><td class="key">MLP</td><td class="key">digits</td><td class="key">LTH</td><td>75%</td>'
            '<td>2 / 3</td><td>0.500</td><td>94.50 ± 0.71</td><td>2</td></tr>') in html
    assert html.count("<td>3 / 3</td>") == 1 and "<td>0.750</td><td>92.50 ± 0.71</td>" in html
    for fmt in ("markdown", "latex", "csv"):
        assert "Rounds" not in report([spec], store, fmt)
    curves, _ = details(spec, store)
    lth = curves[(curves["method"] == "lth") & (curves["seed"] == 0)]
    assert lth["epoch"].tolist() == [1, 2, 3, 4, 5, 6]
    assert lth["round"].tolist() == [1, 1, 2, 2, 3, 3]
    assert set(curves[curves["method"] != "lth"]["round"]) == {1}
