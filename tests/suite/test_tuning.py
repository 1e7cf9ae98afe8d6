"""[select] on a per-run frame: the choice per group, ties, unfinished candidates, and
the test metric of the chosen cell only (exact, on hand-made runs)."""

from __future__ import annotations

import io
from dataclasses import replace
from pathlib import Path

import pandas as pd
from click.testing import CliRunner
from small_specs import TWO_METHODS

from suite.cli import main
from suite.grid import expand
from suite.spec import load_spec, parse_spec
from suite.sweeps import Selection
from suite.tuning import choose, column_name, split_columns

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
    assert notes["dense-0.05"] == "lr not chosen yet: no val_top1 finished"


def test_split_columns_name_and_label_each_value():
    spec = replace(SPEC, report=replace(SPEC.report, columns=("train.lr",)))
    df = runs([("dpf", 0.05, 0, "done", 1.0, 1.0), ("dpf", 0.1, 0, "done", 1.0, 1.0)])
    split, columns = split_columns(spec, df)
    assert list(split["method"]) == ["dpf[lr=0.05]", "dpf[lr=0.1]"]
    assert columns == {"dpf[lr=0.05]": ("dpf", "lr 0.05"), "dpf[lr=0.1]": ("dpf", "lr 0.1")}
    assert column_name("dense", []) == "dense"


def test_the_digits_tuning_spec_end_to_end(tmp_path):
    """specs/digits_lr_tuning.toml trained for real: each method's table value is the test
    accuracy of the learning rate with the best mean validation accuracy, and says so."""
    spec = Path(__file__).resolve().parents[2] / "specs" / "digits_lr_tuning.toml"
    results = str(tmp_path / "results")
    runner = CliRunner()
    res = runner.invoke(main, ["run", str(spec), "--results", results], catch_exceptions=False)
    assert res.exit_code == 0 and "18 runs done, 0 failed" in res.output, res.output
    csv = runner.invoke(main, ["export", str(spec), "--results", results, "--table", "runs"]).output
    df = pd.read_csv(io.StringIO(csv))
    assert {"train.lr", "val_top1", "val_loss"} <= set(df.columns) and df["val_top1"].notna().all()
    md = runner.invoke(main, ["report", str(spec), "--results", results, "--format", "markdown"]).output
    row = next(line for line in md.splitlines() if line.startswith("| digits"))
    cells = [c.strip().replace("**", "") for c in row.strip(" |").split(" | ")][3:]
    assert "Runs: 18 done, 0 failed" in md
    for method, cell in zip(["dense", "dpf", "oneshot"], cells, strict=True):
        runs = df[df["method"] == method]
        val = runs.groupby("train.lr", sort=False)["val_top1"].mean()
        best = val.idxmax()  # first of equals in grid order, as the selection breaks ties
        test = runs[runs["train.lr"] == best]["top1"]
        assert cell.startswith(f"{test.mean():.2f} ± {test.std():.2f}"), (method, cell)
        assert cell.endswith(f"(n=2, lr {best:g} by val_top1)"), (method, cell)


def test_the_paper_tuning_spec_plans_its_531_runs_and_their_cost(tmp_path):
    """specs/paper_cifar10_lr_tuning.toml: SM and DSR only at their authors' lr, every
    other method at three, and `suite plan --summary` prints the size and the estimate."""
    path = Path(__file__).resolve().parents[2] / "specs" / "paper_cifar10_lr_tuning.toml"
    cells = expand(load_spec(path))
    assert len(cells) == 177
    lrs = {}
    for cell in cells:
        lrs.setdefault(cell.method, set()).add(cell.train.lr)
    assert lrs.pop("sm") == lrs.pop("dsr") == {0.1}
    assert all(values == {0.05, 0.1, 0.2} for values in lrs.values())
    assert all(cell.train.val_fraction == 0.1 and cell.train.epochs == 300 for cell in cells)
    out = CliRunner().invoke(main, ["plan", str(path), "--summary", "--results", str(tmp_path)],
                             catch_exceptions=False).output
    assert "177 cells x 3 seeds = 531 runs: 0 done, 0 failed, 0 running, 531 pending" in out
    assert "GPU-hours" in out and not (tmp_path / "suite.db").exists()  # planning stores nothing
