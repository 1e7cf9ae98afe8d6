"""[select] on a per-run frame: the choice per group, ties, unfinished candidates, and
the test metric of the chosen cell only (exact, on hand-made runs)."""

from __future__ import annotations

from dataclasses import replace

import pandas as pd

from suite.spec import parse_spec
from suite.sweeps import Selection
from suite.tuning import choose, column_name, split_columns
from tests.small_specs import TWO_METHODS

SPEC = parse_spec(TWO_METHODS.replace("sparsity = [0.5]", 'sparsity = [0.5]\n"train.lr" = [0.05, 0.1, 0.2]'))


def runs(rows: list[tuple]) -> pd.DataFrame:
    """(method, lr, seed, status, val_top1, top1) rows as a per-run frame."""
    return pd.DataFrame([{"cell_id": f"{m}-{lr}", "method": m, "model": "mlp", "dataset": "synthetic",
                          "sparsity": 0.5 if m != "dense" else 0.0, "train.lr": lr, "seed": seed,
                          "status": status, "val_top1": val, "val_loss": None if val is None else 100 - val,
                          "top1": top1} for m, lr, seed, status, val, top1 in rows])


def selected(by: str = "val_top1") -> object:
    return replace(SPEC, select=Selection(("train.lr",), by))


def test_the_best_mean_validation_value_is_chosen_and_its_test_metric_kept():
    df = runs([("dpf", 0.05, 0, "done", 50.0, 90.0), ("dpf", 0.05, 1, "done", 54.0, 10.0),   # mean 52
               ("dpf", 0.1, 0, "done", 51.0, 99.0), ("dpf", 0.1, 1, "done", 52.0, 99.0),     # mean 51.5
               ("dpf", 0.2, 0, "done", 40.0, 99.9), ("dpf", 0.2, 1, "done", 70.0, 99.9)])    # mean 55
    kept, notes = choose(selected(), df)
    assert list(kept["train.lr"]) == [0.2, 0.2]
    assert notes == {"dpf-0.2": "lr 0.2 by val_top1"}
    # the test metric plays no part: by val_loss (lower is better) the same runs choose 0.2 too
    kept, _ = choose(selected("val_loss"), df)
    assert list(kept["train.lr"]) == [0.2, 0.2]


def test_ties_go_to_the_value_listed_first_and_each_method_chooses_alone():
    df = runs([("dense", 0.05, 0, "done", 60.0, 1.0), ("dense", 0.1, 0, "done", 61.0, 1.0),
               ("dpf", 0.05, 0, "done", 50.0, 1.0), ("dpf", 0.1, 0, "done", 50.0, 1.0)])
    kept, notes = choose(selected(), df)
    assert sorted(zip(kept["method"], kept["train.lr"], strict=True)) == [("dense", 0.1), ("dpf", 0.05)]
    assert notes == {"dense-0.1": "lr 0.1 by val_top1", "dpf-0.05": "lr 0.05 by val_top1"}


def test_unfinished_candidates_are_said_and_a_group_without_any_shows_as_missing():
    df = runs([("dpf", 0.05, 0, "done", 50.0, 1.0), ("dpf", 0.05, 1, "pending", None, None),
               ("dpf", 0.1, 0, "failed", None, None), ("dpf", 0.1, 1, "done", 49.0, 1.0),
               ("dense", 0.05, 0, "pending", None, None), ("dense", 0.1, 0, "running", None, None)])
    kept, notes = choose(selected(), df)
    assert sorted(zip(kept["method"], kept["train.lr"], kept["seed"], strict=True)) == [
        ("dense", 0.05, 0), ("dpf", 0.05, 0), ("dpf", 0.05, 1)]
    assert notes["dpf-0.05"] == "lr 0.05 by val_top1 (2 of 4 runs done)"
    assert notes["dense-0.05"] == "lr 0.05 not chosen yet: no val_top1 finished"


def test_split_columns_name_and_label_each_value():
    spec = replace(SPEC, report=replace(SPEC.report, columns=("train.lr",)))
    df = runs([("dpf", 0.05, 0, "done", 1.0, 1.0), ("dpf", 0.1, 0, "done", 1.0, 1.0)])
    split, columns = split_columns(spec, df)
    assert list(split["method"]) == ["dpf[lr=0.05]", "dpf[lr=0.1]"]
    assert columns == {"dpf[lr=0.05]": ("dpf", "lr 0.05"), "dpf[lr=0.1]": ("dpf", "lr 0.1")}
    assert column_name("dense", []) == "dense"
