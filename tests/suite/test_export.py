"""`suite export`: the stored results as flat CSV tables, checked against the store."""

from __future__ import annotations

import io
import re
import textwrap

import pandas as pd
import pytest
from click.testing import CliRunner

from suite.cli import main
from suite.export import KEY_COLUMNS, LAYER_COLUMNS, RUN_COLUMNS
from suite.store import Store

SPEC = textwrap.dedent("""
    [suite]
    name = "export"
    seeds = [0]

    [grid]
    method = ["dense", "dpf"]
    model = ["mlp"]
    dataset = ["synthetic"]
    sparsity = [0.5, 0.8]

    [[grid.exclude]]
    method = ["dense"]
    sparsity = [0.8]

    [train]
    epochs = 2
    batch_size = 32
    lr = 0.05

    [method.dpf]
    reprune_every = 2

    [model.mlp]
    hidden = [16]

    [dataset.synthetic]
    train_size = 128
    test_size = 64
""")


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def export(spec, results, table: str) -> pd.DataFrame:
    out = invoke("export", spec, "--results", results, "--table", table)
    assert out.exit_code == 0, out.output
    return pd.read_csv(io.StringIO(out.output))


@pytest.fixture
def spec(tmp_path):
    path = tmp_path / "export.toml"
    path.write_text(SPEC)
    return path


def test_runs_before_anything_ran_are_pending(spec, results):
    df = export(spec, results, "runs")
    assert list(df.columns) == RUN_COLUMNS
    assert len(df) == 3 and set(df["status"]) == {"pending"}
    assert not (results / "suite.db").exists()


def test_every_table_matches_the_store(spec, results):
    assert invoke("run", spec, "--results", results).exit_code == 0
    stored = {(cell_id, seed): run.result for (cell_id, seed), run in Store(results).runs().items()}

    runs = export(spec, results, "runs")
    assert len(runs) == 3 and set(runs["status"]) == {"done"} and set(runs["attempts"]) == {1}
    for row in runs.itertuples():
        record = stored[(row.cell_id, row.seed)]
        assert row.top1 == pytest.approx(record["metrics"]["top1"])
        assert row.achieved_sparsity == pytest.approx(record["sparsity"]["overall"])
        assert row.params_kept == record["sparsity"]["params_kept"]
        assert row.threads == record["provenance"]["threads"]
        assert row.data_layout == record["provenance"]["data"]["layout"] == "built-in"
    assert sorted(runs["method"]) == ["dense", "dpf", "dpf"]

    curves = export(spec, results, "curves")
    assert len(curves) == 3 * 2 and set(curves["epoch"]) == {1, 2}
    first = curves[(curves["method"] == "dpf") & (curves["sparsity"] == 0.8)].iloc[-1]
    record = stored[(first.cell_id, 0)]
    assert first.top1 == pytest.approx(record["curve"][-1]["top1"])

    flips = export(spec, results, "flips")
    assert list(flips.columns[:len(KEY_COLUMNS)]) == KEY_COLUMNS
    assert set(flips["method"]) == {"dpf"}          # dense has no mask to flip
    for (cell_id, seed), group in flips.groupby(["cell_id", "seed"]):
        assert list(group["step"]) == [f["step"] for f in stored[(cell_id, seed)]["flips"]]
    assert flips["flip_ratio"].between(0, 1).all()

    layers = export(spec, results, "layers")
    assert list(layers.columns) == LAYER_COLUMNS
    dpf = layers[(layers["method"] == "dpf") & (layers["sparsity"] == 0.5)]
    record = stored[(dpf["cell_id"].iloc[0], 0)]
    assert dict(zip(dpf["layer"], dpf["achieved_sparsity"], strict=True)) == pytest.approx(
        record["sparsity"]["per_layer"])


def test_without_spec_exports_every_stored_spec_to_a_file(spec, results, tmp_path):
    assert invoke("run", spec, "--results", results, "--only", "method=dense").exit_code == 0
    out = tmp_path / "csv" / "runs.csv"
    assert invoke("export", "--results", results, "--out", out).exit_code == 0
    df = pd.read_csv(out)
    assert set(df["spec"]) == {"export"}
    assert sorted(df["status"]) == ["done", "pending", "pending"]
    text = pd.read_csv(out, dtype=str).set_index("status")
    # counts stay integers next to a pending run's blanks; times are UTC to the second
    assert text.loc["done", "params_total"].isdigit() and text.loc["done", "threads"].isdigit()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", text.loc["done", "finished"])


def test_bad_input_is_refused_with_exit_2(spec, results):
    bad = CliRunner().invoke(main, ["export", str(spec), "--results", str(results), "--table", "epochs"])
    assert bad.exit_code == 2 and "'epochs' is not one of" in bad.output
    empty = CliRunner().invoke(main, ["export", "--results", str(results)])
    assert empty.exit_code == 2 and "Traceback" not in empty.output


def test_the_cli_offers_every_table():
    from suite.export import TABLES

    option = next(p for p in main.commands["export"].params if p.name == "table")
    assert set(option.type.choices) == set(TABLES)
